"""Importing operations with their co-financing plans (`OperationPlanner`), in a long layout (one
row per financing line, grouped by operation), a wide one (one row per operation, one column
per financer) or operations only. Each group of rows is parsed into a spec; the chunk's new
operations are created at once through `cper.operations.bulk.operations_create_many`, existing
ones are compared with the file and brought up to date through the register's services
(maître d'ouvrage, operation, lines, lifecycle up to the file's status). In the long layout a
row may carry its partner's decision on the line (« Décision : date »…, issue 12): it is
recorded through `partner_decisions_record_many` after the line, in the operation's savepoint
(such an operation, when new, is created on its own rather than in the chunk's batch)."""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from cper.contracts.models import BudgetProgramme, Objective
from cper.findings import Finding, errors_only
from cper.io import vocabulary as voc
from cper.io.imports.planner import Planner, Progress, RowError, lines_by_financer
from cper.io.imports.report import CREATED, PREVIEW_ROWS, UNCHANGED, UPDATED, worst
from cper.io.imports.values import (
    BUDGET_NATURES,
    MergedRow,
    clean_id,
    commune_codes,
    guess_legal_category,
    slices,
)
from cper.io.readers import (
    cell,
    cell_text,
    is_blank,
    normalize,
    parse_bool,
    parse_date,
    parse_money,
    parse_year,
)
from cper.money import MoneyError, format_eur
from cper.operations import bulk, lifecycle
from cper.operations import services as ops
from cper.operations.models import (
    Committee,
    CommitteeKind,
    DecisionOutcome,
    ExternalReference,
    FinancingLine,
    LegalCategory,
    LineStatus,
    Operation,
    OperationCommune,
    OperationStatus,
    PartnerDecision,
    PartnerDecisionKind,
    PartnerDecisionOutcome,
    ProjectOwner,
)
from cper.operations.rules import (
    commune_errors,
    partner_decision_findings,
    rna_errors,
    siret_errors,
    state_line_findings,
)
from cper.territories.models import Commune

# Decisions taken before cper that an import takes over (`programmed_on`) are recorded as the
# approving decisions of one programming committee so titled, never as an invented session.
TAKEOVER = "reprise"
TAKEOVER_PREFIX = "Reprise de l'existant"


def _programmed_by(status: str) -> bool:
    """Whether reaching `status` from a draft goes through a programming decision."""
    path = lifecycle.status_path(OperationStatus.DRAFT, status) or []
    return any(edge.target == OperationStatus.PROGRAMMED for edge in path)


def takeover_title(date: dt.date) -> str:
    """« Reprise de l'existant — décisions antérieures au 31/12/2023 »."""
    return f"{TAKEOVER_PREFIX} — décisions antérieures au {date:%d/%m/%Y}"


# The file's columns of a partner's decision, by the decision's field its findings name.
_DECISION_COLUMNS = {
    "kind": "decision_kind",
    "body": "decision_body",
    "date": "decision_date",
    "reference": "decision_ref",
    "amount": "decision_amount",
    "outcome": "decision_outcome",
    "financing_line": "decision_date",
}


@dataclass
class _DecisionSpec:
    """The partner's decision a row carries on its line (issue 12)."""

    kind: str
    date: dt.date
    amount: Decimal
    body: str = ""
    reference: str = ""
    outcome: str = PartnerDecisionOutcome.GRANTED


@dataclass
class _LineSpec:
    row: int
    cells: list[Any]
    column: str  # the column the amount came from (wide) or the amount column (long)
    financer: voc.Financer
    amount: Decimal
    rank: int | None = None
    objective: Objective | None = None
    contractualised: bool | None = None
    budget_nature: str | None = None
    programme: BudgetProgramme | None = None
    year: int | None = None
    line_ref: str | None = None
    bop: str | None = None
    activity: str | None = None
    decision: _DecisionSpec | None = None
    line_id: int | None = None  # the line written or matched, once applied


@dataclass
class _OperationSpec:
    key: str
    rows: list[tuple[int, list[Any]]]
    values: dict[str, Any]
    owner: dict[str, Any]
    communes: list[str] | None
    status: str | None
    committee_date: dt.date | None
    lines: list[_LineSpec]


class OperationPlanner(Planner):
    # New operations go through `operations.bulk` in chunks of this many operations.
    chunk_size = 500

    def run(self, progress: Progress | None) -> None:
        table, report = self.table, self.report
        fin_cols = table.financer_columns()
        if "financer" in self.cols or ("amount" in self.cols and not fin_cols):
            report.layout = "long"
        elif fin_cols:
            report.layout = "wide"
        else:
            report.layout = "operations"
        if not self.key_header():
            what = "« Référence du partenaire »" if self.partner else "« N° d'opération »"
            report.reject(
                table.header_row, "", f"colonne obligatoire absente : {what} (identifiant de ligne)"
            )
            return
        self.statuses = voc.status_words(OperationStatus.choices)
        self.categories = {normalize(label): v for v, label in LegalCategory.choices}
        self.categories.update({normalize(v): v for v in LegalCategory.values})
        self.programmes = {p.code.upper(): p for p in BudgetProgramme.objects.all()}
        self.decision_kinds = voc.choice_words(PartnerDecisionKind.choices)
        self.decision_outcomes = voc.choice_words(PartnerDecisionOutcome.choices)

        # Group the rows by operation; a wide layout has one row per operation.
        groups: OrderedDict[str, list[tuple[int, list[Any]]]] = OrderedDict()
        first_seen: dict[str, int] = {}
        for number, row in table.rows:
            key = self.row_key(row)
            if not key:
                report.reject(number, self.key_header(), "identifiant de l'opération absent", row)
                continue
            if report.layout != "long" and key in groups:
                report.reject(
                    number,
                    self.key_header(),
                    f"référence « {key} » en double : déjà ligne {first_seen[key]}",
                    row,
                )
                continue
            groups.setdefault(key, []).append((number, row))
            first_seen.setdefault(key, number)

        # Prefetch what the rows name: communes, owners.
        codes: set[str] = set()
        sirets: set[str] = set()
        rnas: set[str] = set()
        for rows in groups.values():
            for _, row in rows:
                codes.update(commune_codes(self.text(row, "communes")))
                sirets.add(clean_id(self.text(row, "owner_siret")))
                rnas.add(clean_id(self.text(row, "owner_rna")))
        self.communes = {
            c.code: c
            for c in Commune.objects.filter(code__in=codes).select_related("departement", "epci")
        }
        # By slices: a large register names tens of thousands of owners, more than a query's
        # variables allow on SQLite.
        self.owners_siret = {
            o.siret: o
            for part in slices(sirets - {""})
            for o in ProjectOwner.objects.filter(siret__in=part)
        }
        self.owners_rna = {
            o.rna: o
            for part in slices(rnas - {""})
            for o in ProjectOwner.objects.filter(rna__in=part)
        }
        # Programming committees by date; the takeover one by (TAKEOVER, date).
        self.committees: dict[Any, Any] = {}

        total, done = len(table.rows), 0
        items = list(groups.items())
        for start in range(0, len(items), self.chunk_size):
            specs: list[_OperationSpec] = []
            for key, rows in items[start : start + self.chunk_size]:
                try:
                    specs.append(self.parse_group(key, rows))
                except RowError as err:
                    self.reject_group(rows, err.problems)
                    done += len(rows)
            self.prefetch_operations([spec.key for spec in specs])
            for spec in self.create_batch(specs):
                self.guarded(spec.rows, lambda spec=spec: self.apply(spec))  # type: ignore[misc]
            done += sum(len(spec.rows) for spec in specs)
            self.tick(progress, done, total)

    # -- new operations: the batch -------------------------------------------------------------

    def prefetch_operations(self, keys: list[str]) -> None:
        """What `find_operation` will answer for these keys, read in one or two queries."""
        self.known: dict[str, Any] = {}
        rest = set(keys)
        if self.partner is not None:
            for ref in ExternalReference.objects.filter(
                partner=self.partner, reference__in=rest
            ).select_related("operation"):
                if ref.operation.contract_id == self.contract.pk:
                    self.known[ref.reference] = ref.operation
            rest -= set(self.known)
        found = {o.code: o for o in Operation.objects.filter(contract=self.contract, code__in=rest)}
        for key in rest:
            self.known[key] = found.get(key)
        # What comparing them with the file reads: their communes and active lines.
        ids = [o.pk for o in self.known.values() if o is not None]
        self.known_communes: dict[int, list[str]] = {i: [] for i in ids}
        self.known_lines: dict[int, list[Any]] = {i: [] for i in ids}
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            for op_id, code in (
                OperationCommune.objects.filter(operation_id__in=chunk)
                .order_by("operation_id", "position")
                .values_list("operation_id", "commune_id")
            ):
                self.known_communes[op_id].append(code)
            for line in FinancingLine.objects.filter(
                operation_id__in=chunk, status=LineStatus.ACTIVE
            ).order_by("id"):
                self.known_lines[line.operation_id].append(line)
        # And the decisions their lines hold (`record_decisions` adds none twice).
        line_ids = [line.pk for lines in self.known_lines.values() for line in lines]
        self.decisions_read: set[int] = set(line_ids)
        self.decisions_held: dict[int, list[tuple[Any, ...]]] = {}
        for start in range(0, len(line_ids), 5000):
            for held in PartnerDecision.objects.filter(
                financing_line_id__in=line_ids[start : start + 5000]
            ).values_list("financing_line_id", "date", "reference", "amount"):
                self.decisions_held.setdefault(held[0], []).append(held)

    def create_batch(self, specs: list[_OperationSpec]) -> list[_OperationSpec]:
        """Create the chunk's new operations in one call of `bulk.operations_create_many`,
        rejecting the rows of the drafts it refuses with its messages; return the specs left
        to `apply`: existing operations, and new ones whose maître d'ouvrage changes first."""
        self.pending_owners: dict[tuple[str, str], bulk.OwnerDraft] = {}
        self.pending_committees: dict[Any, bulk.CommitteeDraft] = {}
        left: list[_OperationSpec] = []
        taken: list[tuple[_OperationSpec, bulk.OperationDraft]] = []
        for spec in specs:
            draft = None if self.known.get(spec.key) is not None else self.draft_of(spec)
            if draft is None:
                left.append(spec)
            else:
                taken.append((spec, draft))
        if not taken:
            return left
        sid = transaction.savepoint()
        try:
            outcomes = bulk.operations_create_many(
                actor=self.actor, contract=self.contract, drafts=[d for _, d in taken]
            )
        except DatabaseError:
            transaction.savepoint_rollback(sid)
            for committee in self.pending_committees.values():
                committee.created = None
            # One by one, each in its savepoint, to find the culprit.
            return [spec for spec, _ in taken] + left
        # The partners' decisions the new operations' rows carry, recorded in one call: a
        # refused decision must take its operation with it, so the whole batch is undone then
        # and its operations go one by one (`apply`), each in its savepoint with its decisions.
        if not self.batch_decisions(
            [(spec, o.operation) for (spec, _), o in zip(taken, outcomes, strict=True)]
        ):
            transaction.savepoint_rollback(sid)
            for committee in self.pending_committees.values():
                committee.created = None
            for spec, _ in taken:
                for ls in spec.lines:
                    ls.line_id = None  # lines undone with the batch
            return [spec for spec, _ in taken] + left
        transaction.savepoint_commit(sid)
        for date, committee in self.pending_committees.items():
            if committee.created is not None:
                self.committees[date] = committee.created
        for (spec, draft), outcome in zip(taken, outcomes, strict=True):
            if outcome.refusal is not None:
                self.reject_group(spec.rows, self.refusal_problems(spec, draft, outcome.refusal))
                continue
            assert outcome.operation is not None
            for outcome_ in self.created(spec, outcome.operation):
                self.report.tally(outcome_)
        return left

    def create_one(self, spec: _OperationSpec) -> list[str]:
        """A new operation whose maître d'ouvrage exists with other details (or left by a batch
        that failed in the database): the owner updated, then a batch of one."""
        owner, _ = self.existing_owner(spec)
        self.pending_owners, self.pending_committees = {}, {}
        draft = self.draft_of(spec, owner=owner)
        assert draft is not None
        [outcome] = bulk.operations_create_many(
            actor=self.actor, contract=self.contract, drafts=[draft]
        )
        if outcome.refusal is not None:
            raise RowError(self.refusal_problems(spec, draft, outcome.refusal))
        assert outcome.operation is not None
        for date, committee in self.pending_committees.items():
            if committee.created is not None:
                self.remember(self.committees, date, committee.created)
        return self.created(spec, outcome.operation)

    def created(self, spec: _OperationSpec, op: Operation) -> list[str]:
        """Remember a new operation and its owner; the outcome of each of its rows."""
        self.known[spec.key] = op
        if op.owner.siret:
            self.remember(self.owners_siret, op.owner.siret, op.owner)
        if op.owner.rna:
            self.remember(self.owners_rna, op.owner.rna, op.owner)
        self.preview(spec, op, CREATED)
        if self.report.layout != "long":
            return [CREATED]
        line_rows = {ls.row for ls in spec.lines}
        return [
            CREATED if i == 0 or number in line_rows else UNCHANGED
            for i, (number, _) in enumerate(spec.rows)
        ]

    def refusal_problems(
        self, spec: _OperationSpec, draft: bulk.OperationDraft, refusal: bulk.Refusal
    ) -> list[tuple[str, str]]:
        """The refusal's messages placed on the file's columns, as `apply` places a service's:
        a line's on its amount column, prefixed with its row when it is not the first."""
        if refusal is draft.blocked:  # the import's own check: already placed
            return [(f.field, f.message) for f in refusal.findings]
        if refusal.stage == "line" and refusal.line is not None:
            ls = spec.lines[refusal.line]
            err = self.service_error(refusal.error(), ls.column)
            prefix = f"ligne {ls.row} : " if ls.row != spec.rows[0][0] else ""
            return [(c if c else ls.column, f"{prefix}{m}") for c, m in err.problems]
        return self.service_error(refusal.error()).problems

    def draft_of(
        self, spec: _OperationSpec, owner: ProjectOwner | None = None
    ) -> bulk.OperationDraft | None:
        """The batch draft of a new operation, with the import's own refusal, if any, at its
        stage (`blocked`); None when its maître d'ouvrage must change first (`create_one`).
        `owner`: the existing owner, already brought up to date."""
        blocked: bulk.Refusal | None = None

        def block(stage: str, problems: list[tuple[str, str]], line: int | None = None) -> None:
            nonlocal blocked
            if blocked is None:
                findings = [Finding(column, message) for column, message in problems]
                blocked = bulk.Refusal(stage, findings=findings, line=line)

        found: ProjectOwner | bulk.OwnerDraft | None = owner
        if found is None:
            found = self.owner_draft(spec.owner)
            if found is False:
                return None
            if found is None:
                block("owner", [self.owner_problem(spec.owner)])
        title, objective = spec.values.get("title"), spec.values.get("objective")
        problems = []
        if not title:
            problems.append((self.header("title", "Intitulé de l'opération"), "intitulé absent"))
        if objective is None:
            problems.append((self.header("objective", "Objectif"), "objectif absent"))
        if problems:
            block("operation", problems)
        communes = spec.communes or []
        first = self.communes.get(communes[0]) if communes else None
        lines = []
        for i, ls in enumerate(spec.lines):
            financer = self.directory.for_territory(
                ls.financer,
                departement_code=first.departement_id if first else None,
                epci_siren=first.epci_id if first else None,
            )
            if financer is None:
                what = "département" if ls.financer.dynamic == "departement" else "EPCI"
                message = (
                    f"« {ls.column} » : aucun {what} partenaire du contrat pour la commune de "
                    "l'opération (nommez le financeur, ex. « Part Nord »)"
                )
                block("line", [(ls.column, message)], i)
                lines.append(bulk.LineDraft(financer_kind="", amount=ls.amount))
                continue
            lines.append(bulk.LineDraft(**self.line_values(ls, financer)))
        status = spec.status or OperationStatus.DRAFT
        committee = None
        path = lifecycle.status_path(OperationStatus.DRAFT, status)
        column = self.header("status", "Statut")
        if path is None:
            block(
                "status",
                [
                    (
                        column,
                        f"transition refusée : une opération « "
                        f"{lifecycle.label(OperationStatus.DRAFT)} » ne peut pas passer à « "
                        f"{lifecycle.label(status)} »",
                    )
                ],
            )
        elif any(edge.target == OperationStatus.PROGRAMMED for edge in path):
            if spec.committee_date is not None:
                committee = self.committee_draft(spec.committee_date)
            elif self.programmed_on is not None:
                committee = self.takeover_draft(self.programmed_on)
            else:
                block("status", [(column, self.no_committee_message(status))])
        values = {k: v for k, v in spec.values.items() if k not in {"code", "title", "objective"}}
        return bulk.OperationDraft(
            title=title or "",
            owner=found if not isinstance(found, bool) else None,
            objective=objective,
            code=(spec.values.get("code") or None) if self.partner is not None else spec.key,
            communes=communes,
            external_references={self.partner: spec.key} if self.partner is not None else {},
            lines=lines,
            status=status,
            committee=committee,
            reason=f"statut repris du fichier importé « {self.report.file_name} »",
            blocked=blocked,
            **values,
        )

    def line_values(self, ls: _LineSpec, financer: voc.Financer) -> dict[str, Any]:
        """A file's line as `financing_line_add` (and the batch's `LineDraft`) take it."""
        return {
            "financer_kind": financer.kind,
            "amount": ls.amount,
            "partner": self.directory.partners.get(financer.partner_id)
            if financer.partner_id
            else None,
            "financer_label": financer.label,
            "objective": ls.objective,
            "contractualised": ls.contractualised,
            "budget_nature": ls.budget_nature,
            "programme": ls.programme,
            "year": ls.year,
            "external_ref": ls.line_ref or "",
            "bop": ls.bop,
            "activity": ls.activity,
        }

    def committee_draft(self, date: dt.date) -> Committee | bulk.CommitteeDraft:
        """The programming committee of that date: the existing one, or a draft the batch
        creates only if one of its operations is written (so a committee whose operations are
        all rejected is not left behind)."""
        if date in self.committees:
            return self.committees[date]
        if date not in self.pending_committees:
            found = (
                Committee.objects.filter(
                    contract=self.contract, kind=CommitteeKind.PROGRAMMING, date=date
                )
                .exclude(title__startswith=TAKEOVER_PREFIX)
                .first()
            )
            if found is not None:
                self.committees[date] = found
                return found
            self.pending_committees[date] = bulk.CommitteeDraft(
                kind=CommitteeKind.PROGRAMMING, date=date
            )
        return self.pending_committees[date]

    def no_committee_message(self, status: str) -> str:
        return (
            f"une opération « {lifecycle.label(status)} » a été programmée par un comité : "
            "indiquez la date du comité de programmation (colonne « Date du comité de "
            "programmation »), ou, pour reprendre un registre existant, la date des décisions "
            "reprises (page d'import : « date des décisions reprises » ; ligne de commande : "
            "--programmed-on)"
        )

    def takeover_draft(self, date: dt.date) -> Committee | bulk.CommitteeDraft:
        """The committee recording the decisions taken before cper that the file takes over:
        the existing one of that date, or a draft written with the first operation it
        programs (like `committee_draft`)."""
        key = (TAKEOVER, date)
        if key in self.committees:
            return self.committees[key]  # type: ignore[no-any-return]
        if key not in self.pending_committees:
            found = self.takeover_found(date)
            if found is not None:
                self.committees[key] = found
                return found
            self.pending_committees[key] = bulk.CommitteeDraft(
                kind=CommitteeKind.PROGRAMMING, date=date, title=takeover_title(date)
            )
        return self.pending_committees[key]

    def takeover_committee(self, date: dt.date) -> Committee:
        """The takeover committee of that date, created now if need be (existing operations
        brought to a programmed status one by one)."""
        key = (TAKEOVER, date)
        if key not in self.committees:
            found = self.takeover_found(date) or ops.committee_create(
                actor=self.actor,
                contract=self.contract,
                kind=CommitteeKind.PROGRAMMING,
                date=date,
                title=takeover_title(date),
            )
            self.remember(self.committees, key, found)
        return self.committees[key]  # type: ignore[no-any-return]

    def takeover_found(self, date: dt.date) -> Committee | None:
        return Committee.objects.filter(
            contract=self.contract,
            kind=CommitteeKind.PROGRAMMING,
            date=date,
            title=takeover_title(date),
        ).first()

    def owner_problem(self, info: dict[str, Any]) -> tuple[str, str]:
        """Why a new operation has no maître d'ouvrage."""
        if not info.get("siret") and not info.get("rna"):
            return (
                self.header("owner_siret", "N° SIRET"),
                "le SIRET (ou le numéro RNA d'une association) du maître d'ouvrage est "
                "obligatoire pour créer une opération",
            )
        return (
            self.header("owner_name", "Maître d'ouvrage"),
            "nom du maître d'ouvrage absent (nouveau maître d'ouvrage)",
        )

    def owner_draft(self, info: dict[str, Any]) -> Any:
        """The owner the file names: an existing one or the batch's draft of a new one; None
        when it cannot be (no number, or no name for a new one); False when an existing (or
        already drafted) owner would change, which `create_one` does first."""
        siret, rna = info.get("siret"), info.get("rna")
        if not siret and not rna:
            return None
        owner: Any = (self.owners_siret.get(siret) if siret else None) or (
            self.owners_rna.get(rna) if rna else None
        )
        if owner is None:
            owner = (self.pending_owners.get(("siret", siret)) if siret else None) or (
                self.pending_owners.get(("rna", rna)) if rna else None
            )
        if owner is not None:
            if self.owner_changes(info, owner):
                return False
            return owner
        name = info.get("name") or ""
        if not name:
            return None
        owner = bulk.OwnerDraft(
            name=name,
            legal_category=info.get("legal_category")
            or ("association" if rna and not siret else None)
            or guess_legal_category(name),
            siret=siret,
            rna=rna,
        )
        if siret:
            self.pending_owners[("siret", siret)] = owner
        if rna:
            self.pending_owners[("rna", rna)] = owner
        return owner

    @staticmethod
    def owner_changes(info: dict[str, Any], owner: Any) -> dict[str, Any]:
        """What the file changes in an existing (or drafted) maître d'ouvrage."""
        changes = {}
        if info.get("name") and info["name"] != owner.name:
            changes["name"] = info["name"]
        if info.get("legal_category") and info["legal_category"] != owner.legal_category:
            changes["legal_category"] = info["legal_category"]
        for key in ("siret", "rna"):
            if info.get(key) and not getattr(owner, key):
                changes[key] = info[key]
        return changes

    def existing_owner(self, spec: _OperationSpec) -> tuple[ProjectOwner | None, str]:
        """The existing maître d'ouvrage the file names, brought up to date (None if new), and
        whether it changed."""
        info = spec.owner
        owner = (self.owners_siret.get(info["siret"]) if info.get("siret") else None) or (
            self.owners_rna.get(info["rna"]) if info.get("rna") else None
        )
        if owner is None:
            return None, UNCHANGED
        changes = self.owner_changes(info, owner)
        if not changes:
            return owner, UNCHANGED
        ops.owner_update(actor=self.actor, owner=owner, **changes)
        return owner, UPDATED

    # -- parsing -------------------------------------------------------------------------------

    def parse_group(self, key: str, rows: list[tuple[int, list[Any]]]) -> _OperationSpec:
        problems: list[tuple[str, str]] = []
        first = rows[0][1]
        # Operation-level values: the first non-blank cell of the group; a different value on
        # another row of the same operation is an error.
        merged: dict[str, Any] = {}
        for name in (
            "code",
            "title",
            "description",
            "owner_name",
            "owner_siret",
            "owner_rna",
            "owner_category",
            "communes",
            "objective",
            "action",
            "status",
            "start_date",
            "end_date",
            "cost_ht",
            "cost_ttc",
            "cost_base",
            "committee_date",
        ):
            seen: tuple[int, str] | None = None
            for number, row in rows:
                text = self.text(row, name)
                if not text:
                    continue
                if seen is None:
                    seen = (number, text)
                    merged[name] = self.value(row, name)
                elif text != seen[1] and normalize(text) != normalize(seen[1]):
                    problems.append(
                        (
                            self.header(name),
                            f"ligne {number} : « {text} » diffère de « {seen[1]} » "
                            f"(ligne {seen[0]}) pour la même opération",
                        )
                    )
        values: dict[str, Any] = {}
        row_like = MergedRow(merged, self.cols)
        for name in ("title", "description"):
            if name in merged:
                values[name] = cell_text(merged[name])
        if "objective" in merged:
            try:
                values["objective"] = self.objective_of(
                    merged["objective"], self.header("objective")
                )
            except RowError as err:
                problems += err.problems
        if "action" in merged:
            try:
                values["action"] = self.action_of(merged["action"], self.header("action"))
            except RowError as err:
                problems += err.problems
        for name in ("start_date", "end_date"):
            v = self.convert(row_like, name, parse_date, problems)
            if v is not None:
                values[name] = v
        for name in ("cost_ht", "cost_ttc"):
            v = self.convert(row_like, name, parse_money, problems)
            if v is not None:
                if v < 0:
                    problems.append((self.header(name), f"coût négatif ({format_eur(v)})"))
                values[name] = v
        if "cost_base" in merged:
            base = normalize(cell_text(merged["cost_base"]))
            if base not in {"ht", "ttc"}:
                problems.append((self.header("cost_base"), f"assiette « {base} » : HT ou TTC"))
            else:
                values["cost_base"] = base
        if "code" in merged and self.partner is not None and "reference" in self.cols:
            # With a partner's reference column, the number column is the contract's number;
            # without one, the file's number is the partner's own (kept as its reference) and
            # a new operation gets the contract's next number.
            values["code"] = cell_text(merged["code"])
        status = None
        if "status" in merged:
            status = self.statuses.get(voc.status_key(cell_text(merged["status"])))
            if status is None:
                problems.append(
                    (self.header("status"), f"statut inconnu « {cell_text(merged['status'])} »")
                )
        committee_date = self.convert(row_like, "committee_date", parse_date, problems)

        # Owner
        owner: dict[str, Any] = {}
        siret = clean_id(cell_text(merged.get("owner_siret")))
        rna = clean_id(cell_text(merged.get("owner_rna")))
        if siret:
            errs = siret_errors(siret)
            if errs:
                problems += [(self.header("owner_siret"), e.message) for e in errs]
            owner["siret"] = siret
        if rna:
            problems += [(self.header("owner_rna"), e.message) for e in rna_errors(rna)]
            owner["rna"] = rna
        if "owner_name" in merged:
            owner["name"] = cell_text(merged["owner_name"])
        if "owner_category" in merged:
            text = cell_text(merged["owner_category"])
            category = self.categories.get(normalize(text))
            if category is None:
                problems.append((self.header("owner_category"), f"catégorie inconnue « {text} »"))
            owner["legal_category"] = category

        # Communes
        communes = None
        if "communes" in merged:
            communes = commune_codes(cell_text(merged["communes"]))

            found = {
                c: self.communes[c].departement.region_id for c in communes if c in self.communes
            }
            problems += [
                (self.header("communes"), f.message)
                for f in commune_errors(
                    requested=communes, found=found, region_code=self.contract.region_id
                )
            ]

        # Lines
        lines: list[_LineSpec] = []
        if self.report.layout == "long":
            for number, row in rows:
                try:
                    spec = self.parse_long_line(number, row)
                except RowError as err:
                    problems += [
                        (c, f"ligne {number} : {m}" if number != rows[0][0] else m)
                        for c, m in err.problems
                    ]
                    continue
                if spec is not None:
                    lines.append(spec)
        elif self.report.layout == "wide":
            for col in self.table.financer_columns():
                raw = cell(first, col)
                if is_blank(raw):
                    continue
                try:
                    amount = parse_money(raw)
                except MoneyError as exc:
                    problems.append((col.header, str(exc)))
                    continue
                if amount < 0:
                    problems.append((col.header, f"montant négatif ({format_eur(amount)})"))
                    continue
                financer = self.directory.resolve(col.financer or "")
                assert financer is not None
                lines.append(
                    _LineSpec(rows[0][0], first, col.header, financer, amount, rank=col.rank)
                )
        # Duplicated lines within the operation (long layout).
        seen_lines: dict[tuple[Any, ...], int] = {}
        for spec in lines:
            ident = (
                (spec.financer, spec.rank, spec.line_ref) if (spec.rank or spec.line_ref) else None
            )
            if ident is None:
                continue
            if ident in seen_lines:
                problems.append(
                    (
                        spec.column,
                        f"ligne {spec.row} : même financeur et même rang/référence que la ligne "
                        f"{seen_lines[ident]} (ligne de financement en double)",
                    )
                )
            seen_lines.setdefault(ident, spec.row)
        if problems:
            raise RowError(problems)
        return _OperationSpec(key, rows, values, owner, communes, status, committee_date, lines)

    def parse_long_line(self, number: int, row: list[Any]) -> _LineSpec | None:
        problems: list[tuple[str, str]] = []
        amount = self.convert(row, "amount", parse_money, problems)
        financer = None
        try:
            financer = self.financer_of(row)
        except RowError as err:
            problems += err.problems
        if amount is None and not problems:
            if financer is None:
                return None  # an operation row without a line
            problems.append((self.header("amount"), "montant absent"))
        if amount is not None and amount < 0:
            problems.append((self.header("amount"), f"montant négatif ({format_eur(amount)})"))
        if financer is None and not problems:
            problems.append((self.header("financer", "Financeur"), "financeur absent"))
        spec_values: dict[str, Any] = {}
        rank = self.convert(row, "line_rank", lambda v: int(cell_text(v)), problems)
        if self.value(row, "line_objective") is not None:
            try:
                spec_values["objective"] = self.objective_of(
                    self.value(row, "line_objective"), self.header("line_objective")
                )
            except RowError as err:
                problems += err.problems
        spec_values["contractualised"] = self.convert(row, "contractualised", parse_bool, problems)
        nature = self.text(row, "budget_nature")
        if nature:
            spec_values["budget_nature"] = BUDGET_NATURES.get(normalize(nature))
            if spec_values["budget_nature"] is None:
                problems.append(
                    (self.header("budget_nature"), f"nature « {nature} » : AE/CP, AP/CP ou autre")
                )
        prog = self.text(row, "programme")
        if prog:
            spec_values["programme"] = self._programme(prog)
            if spec_values["programme"] is None:
                problems.append((self.header("programme"), f"programme LOLF inconnu « {prog} »"))
        spec_values["year"] = self.convert(row, "year", parse_year, problems)
        self.warn_state_line(number, financer, spec_values)
        for key in ("bop", "activity"):
            code = self.text(row, key)
            if code and len(code) > 30:
                problems.append((self.header(key), f"code « {code[:40]} » : 30 caractères au plus"))
            elif code:
                spec_values[key] = code
        line_ref = self.text(row, "line_ref") or None
        decision = self.parse_decision(row, amount, financer, problems)
        if problems:
            raise RowError(problems)
        assert financer is not None and amount is not None
        return _LineSpec(
            number,
            row,
            self.header("amount"),
            financer,
            amount,
            rank=rank,
            line_ref=line_ref,
            decision=decision,
            **spec_values,
        )

    def parse_decision(
        self,
        row: list[Any],
        line_amount: Decimal | None,
        financer: voc.Financer | None,
        problems: list[tuple[str, str]],
    ) -> _DecisionSpec | None:
        """The partner's decision a row carries (« Décision : date »…), checked by the rules the
        service applies (`rules.partner_decision_findings`), so that a bad value rejects the
        row before anything is written. None when the row carries none."""
        names = [n for n in set(_DECISION_COLUMNS.values()) if n in self.cols]
        if not any(self.value(row, n) is not None for n in names):
            return None
        before = len(problems)
        date = self.convert(row, "decision_date", parse_date, problems)
        amount = self.convert(row, "decision_amount", parse_money, problems)
        text = self.text(row, "decision_kind")
        kind = self.decision_kinds.get(normalize(text)) if text else None
        if text and kind is None:
            labels = ", ".join(str(label) for _, label in PartnerDecisionKind.choices)
            problems.append(
                (self.header("decision_kind"), f"nature de l'acte « {text} » inconnue ({labels})")
            )
        elif not text:
            problems.append((self.header("decision_kind", "Décision : nature"), "nature absente"))
        text = self.text(row, "decision_outcome")
        outcome = self.decision_outcomes.get(normalize(text)) if text else "granted"
        if outcome is None:
            problems.append(
                (
                    self.header("decision_outcome"),
                    f"sens « {text} » inconnu (accordée, refusée ou retirée)",
                )
            )
        if date is None and len(problems) == before:
            problems.append((self.header("decision_date", "Décision : date"), "date absente"))
        if amount is None and outcome == "granted":
            amount = line_amount  # a decision granting the line's amount
        if len(problems) > before or line_amount is None or kind is None or outcome is None:
            return None
        assert date is not None and amount is not None
        for f in errors_only(
            partner_decision_findings(
                kind=kind,
                kinds=PartnerDecisionKind.values,
                outcome=outcome,
                outcomes=PartnerDecisionOutcome.values,
                amount=amount,
                date=date,
                today=timezone.localdate(),
                line_amount=line_amount,
                has_partner=financer is None or financer.kind == "partner",
                line_active=True,
            )
        ):
            column = _DECISION_COLUMNS.get(f.field, "decision_date")
            problems.append((self.header(column, "Décision : date"), f.message))
        if len(problems) > before:
            return None
        return _DecisionSpec(
            kind=kind,
            date=date,
            amount=amount,
            body=self.text(row, "decision_body"),
            reference=self.text(row, "decision_ref"),
            outcome=outcome,
        )

    def batch_decisions(self, created: list[tuple[_OperationSpec, Operation | None]]) -> bool:
        """Record the decisions of a batch of new operations (None: refused by the batch) in
        one `partner_decisions_record_many`; False, having written part of them, when one is
        refused (the caller undoes the batch)."""
        with_decisions = [
            (spec, op)
            for spec, op in created
            if op is not None and any(ls.decision for ls in spec.lines)
        ]
        if not with_decisions:
            return True
        # The new lines in the order of the file's (`operations_create_many` writes them in its
        # drafts' order).
        ids: dict[int, list[int]] = {op.pk: [] for _, op in with_decisions}
        for op_id, line_id in (
            FinancingLine.objects.filter(operation_id__in=list(ids), status=LineStatus.ACTIVE)
            .order_by("id")
            .values_list("operation_id", "pk")
        ):
            ids[op_id].append(line_id)
        drafts: list[ops.PartnerDecisionDraft] = []
        for spec, op in with_decisions:
            for ls, line_id in zip(spec.lines, ids[op.pk], strict=False):
                ls.line_id = line_id
            drafts += self.decision_drafts(spec, existing=set())[0]
        results = ops.partner_decisions_record_many(actor=self.actor, drafts=drafts)
        return all(r.written for r in results)

    def record_decisions(self, spec: _OperationSpec) -> set[int]:
        """Record, through `partner_decisions_record_many`, the decisions the rows carry on
        their lines (already written: `line_id`), unless the line already has the same one
        (same date, reference and amount): re-importing a file adds nothing. Returns the rows
        whose decision was written; a refusal raises (the group is rolled back)."""
        pairs = [ls for ls in spec.lines if ls.decision is not None and ls.line_id is not None]
        if not pairs:
            return set()
        ids = {ls.line_id for ls in pairs if ls.line_id is not None}
        existing = {key for i in ids for key in self.decisions_held.get(i, ())}
        unread = ids - self.decisions_read  # lines written since the chunk was read
        if unread:
            existing |= set(
                PartnerDecision.objects.filter(financing_line_id__in=unread).values_list(
                    "financing_line_id", "date", "reference", "amount"
                )
            )
        drafts, owners = self.decision_drafts(spec, existing=existing)
        if not drafts:
            return set()
        results = ops.partner_decisions_record_many(actor=self.actor, drafts=drafts)
        problems: list[tuple[str, str]] = []
        for ls, result in zip(owners, results, strict=True):
            prefix = f"ligne {ls.row} : " if ls.row != spec.rows[0][0] else ""
            if result.refused:
                column = self.header("decision_date", "Décision : date")
                problems.append((column, f"{prefix}{result.refused}"))
            for f in errors_only(result.findings):
                column = self.header(_DECISION_COLUMNS.get(f.field, "decision_date"))
                problems.append((column, f"{prefix}{f.message}"))
        if problems:
            raise RowError(problems)
        return {ls.row for ls in owners}

    def decision_drafts(
        self, spec: _OperationSpec, *, existing: set[tuple[Any, ...]]
    ) -> tuple[list[ops.PartnerDecisionDraft], list[_LineSpec]]:
        """The drafts of the decisions the rows carry on their written lines, but those the
        line already holds (`existing`: line, date, reference, amount) or that the file
        repeats; with the line spec each comes from."""
        drafts: list[ops.PartnerDecisionDraft] = []
        owners: list[_LineSpec] = []
        for ls in spec.lines:
            if ls.decision is None or ls.line_id is None:
                continue
            d = ls.decision
            key = (ls.line_id, d.date, d.reference.strip(), d.amount)
            if key in existing:
                continue
            existing.add(key)
            drafts.append(
                ops.PartnerDecisionDraft(
                    financing_line_id=ls.line_id,
                    kind=d.kind,
                    date=d.date,
                    amount=d.amount,
                    body=d.body,
                    reference=d.reference,
                    outcome=d.outcome,
                )
            )
            owners.append(ls)
        return drafts, owners

    def warn_state_line(
        self, number: int, financer: voc.Financer | None, values: dict[str, Any]
    ) -> None:
        """A contractualised State line without its LOLF programme goes in, with a warning
        (`rules.state_line_findings`); at most 50 such warnings per file."""
        partner = (
            self.directory.partners.get(financer.partner_id)
            if financer is not None and financer.partner_id
            else None
        )
        if partner is None or len(self.report.warnings) >= 50:
            return
        for f in state_line_findings(
            contractualised=values.get("contractualised") is not False,
            partner_kind=partner.kind,
            budget_nature=values.get("budget_nature") or partner.budget_nature,
            has_programme=values.get("programme") is not None,
        ):
            column = self.header("programme", "Programme LOLF")
            self.report.warnings.append(f"ligne {number}, colonne « {column} » : {f.message}")

    def _programme(self, text: str) -> BudgetProgramme | None:
        t = text.strip().upper().split(" ")[0]
        digits = re.sub(r"\D", "", t)
        for candidate in (t, f"P{digits}", digits, digits.lstrip("0")):
            if candidate and candidate in self.programmes:
                return self.programmes[candidate]
        return None

    # -- applying ------------------------------------------------------------------------------

    def apply(self, spec: _OperationSpec) -> list[str]:
        op = self.find_operation(spec.key)
        if op is None:
            outcomes = self.create_one(spec)
            if any(ls.decision for ls in spec.lines):
                # The new lines, in the order of the file's (`operations_create_many` writes
                # them in its drafts' order).
                created = self.known[spec.key]
                ids = list(
                    FinancingLine.objects.filter(operation=created, status=LineStatus.ACTIVE)
                    .order_by("id")
                    .values_list("pk", flat=True)
                )
                for ls, line_id in zip(spec.lines, ids, strict=False):
                    ls.line_id = line_id
                self.record_decisions(spec)
            return outcomes
        op_outcome = UNCHANGED
        owner, owner_outcome = self.resolve_owner(spec, op)
        changes = self.operation_changes(spec, op, owner)
        if changes:
            ops.operation_update(actor=self.actor, operation=op, **changes)
            op_outcome = UPDATED
        if (
            self.partner is not None
            and not op.external_references.filter(partner=self.partner).exists()
        ):
            ops.external_reference_set(
                actor=self.actor, operation=op, partner=self.partner, reference=spec.key
            )
            op_outcome = UPDATED
        op_outcome = worst(op_outcome, owner_outcome)

        line_outcomes = self.apply_lines(spec, op)
        decided = self.record_decisions(spec)
        line_outcomes = [
            (ls, worst(outcome, UPDATED) if ls.row in decided else outcome)
            for ls, outcome in line_outcomes
        ]
        status_outcome = self.reach_status(spec, op)
        first = worst(op_outcome, status_outcome)

        # One outcome per row: a long layout's rows are its lines.
        if self.report.layout == "long":
            outcomes = []
            by_row: dict[int, str] = {}
            for line_spec, outcome in line_outcomes:
                by_row[line_spec.row] = worst(by_row.get(line_spec.row, UNCHANGED), outcome)
            for i, (number, _) in enumerate(spec.rows):
                o = by_row.get(number, UNCHANGED)
                outcomes.append(worst(o, first) if i == 0 else o)
            self.preview(spec, op, worst(*outcomes))
            return outcomes
        self.preview(spec, op, worst(first, *(o for _, o in line_outcomes)))
        return [worst(first, *(o for _, o in line_outcomes))]

    def preview(self, spec: _OperationSpec, op: Operation, outcome: str) -> None:
        """One of the first rows as it is written (the dry run shows them, beside the
        rejections): the operation's number, the partner's reference, what the row sets."""
        if len(self.report.preview) >= PREVIEW_ROWS:
            return
        status = spec.status or op.status
        decision = ""
        if spec.committee_date is not None:
            decision = f"comité de programmation du {spec.committee_date:%d/%m/%Y}"
        elif self.programmed_on is not None and _programmed_by(status):
            decision = takeover_title(self.programmed_on)
        objective = spec.values.get("objective")
        owner = spec.owner.get("name") or (op.owner.name if op.owner_id else "")
        lines = " ; ".join(
            f"{ls.column if ls.financer.dynamic else self.directory.label(ls.financer)} "
            f"{format_eur(ls.amount)}"
            for ls in spec.lines
        )
        self.report.add_preview(
            spec.rows[0][0],
            outcome,
            {
                "N° d'opération": op.code,
                "Référence du partenaire": spec.key if self.partner is not None else "",
                "Intitulé": spec.values.get("title") or op.title,
                "Maître d'ouvrage": owner,
                "Communes": ", ".join(spec.communes or []),
                "Objectif": objective.code if objective is not None else "",
                "Statut": lifecycle.label(status),
                "Décision": decision,
                "Financement": lines,
            },
        )

    def resolve_owner(self, spec: _OperationSpec, op: Any) -> tuple[Any, str]:
        """The maître d'ouvrage an existing operation should have: the one the file names
        (created or brought up to date), or its own when the file names none."""
        info = spec.owner
        if not info.get("siret") and not info.get("rna"):
            return op.owner, UNCHANGED
        owner, outcome = self.existing_owner(spec)
        if owner is not None:
            return owner, outcome
        name = info.get("name") or ""
        if not name:
            raise RowError([self.owner_problem(info)])
        owner = ops.owner_create(
            actor=self.actor,
            name=name,
            legal_category=info.get("legal_category")
            or ("association" if info.get("rna") and not info.get("siret") else None)
            or guess_legal_category(name),
            siret=info.get("siret"),
            rna=info.get("rna"),
        )
        if owner.siret:
            self.remember(self.owners_siret, owner.siret, owner)
        if owner.rna:
            self.remember(self.owners_rna, owner.rna, owner)
        return owner, CREATED

    def operation_changes(self, spec: _OperationSpec, op: Any, owner: Any) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for key, value in spec.values.items():
            if key == "code":
                continue
            if key == "objective":  # compared on ids: no query for the operation's objective
                if value.pk != op.objective_id:
                    changes[key] = value
                continue
            if key == "action":  # likewise
                if (value.pk if value is not None else None) != op.action_id:
                    changes[key] = value
                continue
            current = getattr(op, key)
            if (current or None) != (value or None) and not (key == "description" and not value):
                changes[key] = value
        if owner is not None and owner.pk != op.owner_id:
            changes["owner"] = owner
        if spec.communes is not None:
            current_codes = self.known_communes.get(op.pk)
            if current_codes is None:
                current_codes = list(
                    op.communes.order_by("operationcommune__position").values_list(
                        "code", flat=True
                    )
                )
            if current_codes != spec.communes:
                changes["communes"] = spec.communes
        return changes

    def apply_lines(self, spec: _OperationSpec, op: Any) -> list[tuple[_LineSpec, str]]:
        if not spec.lines:
            return []
        existing = lines_by_financer(op, self.known_lines.get(op.pk))
        used: set[int] = set()
        counters: dict[Any, int] = {}
        out: list[tuple[_LineSpec, str]] = []
        departement = op.departement_id
        epci = op.epci_id
        for ls in spec.lines:
            financer = self.directory.for_territory(
                ls.financer, departement_code=departement, epci_siren=epci
            )
            if financer is None:
                what = "département" if ls.financer.dynamic == "departement" else "EPCI"
                raise RowError(
                    f"« {ls.column} » : aucun {what} partenaire du contrat pour la commune de "
                    "l'opération (nommez le financeur, ex. « Part Nord »)",
                    ls.column,
                )
            candidates = existing.get(financer.key, [])
            line = None
            if ls.line_ref:
                line = next(
                    (c for c in candidates if c.external_ref == ls.line_ref and c.pk not in used),
                    None,
                )
            if line is None:
                rank = ls.rank or counters.get(financer.key, 0) + 1
                counters[financer.key] = rank
                free = [
                    c
                    for c in candidates
                    if c.pk not in used
                    and not (ls.line_ref and c.external_ref and c.external_ref != ls.line_ref)
                ]
                if ls.rank:
                    line = candidates[rank - 1] if rank <= len(candidates) else None
                    if line is not None and line.pk in used:
                        line = None
                else:
                    line = free[0] if free else None
            try:
                if line is None:
                    added = ops.financing_line_add(
                        actor=self.actor, operation=op, **self.line_values(ls, financer)
                    )
                    ls.line_id = added.pk
                    out.append((ls, CREATED))
                    continue
                used.add(line.pk)
                ls.line_id = line.pk
                changes: dict[str, Any] = {}
                if line.amount != ls.amount:
                    changes["amount"] = ls.amount
                for key in ("objective", "programme"):
                    value = getattr(ls, key)
                    if value is not None and getattr(line, f"{key}_id") != value.pk:
                        changes[key] = value
                for key in ("contractualised", "budget_nature", "year"):
                    value = getattr(ls, key)
                    if value is not None and getattr(line, key) != value:
                        changes[key] = value
                if ls.line_ref is not None and line.external_ref != ls.line_ref:
                    changes["external_ref"] = ls.line_ref
                if changes:
                    ops.financing_line_update(actor=self.actor, line=line, **changes)
                    out.append((ls, UPDATED))
                else:
                    out.append((ls, UNCHANGED))
            except (ValidationError, PermissionDenied) as exc:
                err = self.service_error(exc, ls.column)
                prefix = f"ligne {ls.row} : " if ls.row != spec.rows[0][0] else ""
                raise RowError(
                    [(c if c else ls.column, f"{prefix}{m}") for c, m in err.problems]
                ) from exc
        return out

    def reach_status(self, spec: _OperationSpec, op: Any) -> str:
        """Walk the lifecycle from the operation's status to the file's, through its edges."""

        target = spec.status
        if not target or target == op.status:
            return UNCHANGED
        path = lifecycle.status_path(op.status, target)
        column = self.header("status", "Statut")
        if path is None:
            raise RowError(
                f"transition refusée : une opération « {lifecycle.label(op.status)} » ne peut "
                f"pas passer à « {lifecycle.label(target)} »",
                column,
            )
        reason = f"statut repris du fichier importé « {self.report.file_name} »"
        for edge in path:
            if op.status == edge.target:
                continue  # a decision already moved it there
            if edge.target == OperationStatus.PROGRAMMED:
                if spec.committee_date is not None:
                    committee = self._committee(spec.committee_date, ops, CommitteeKind)
                elif self.programmed_on is not None:
                    committee = self.takeover_committee(self.programmed_on)
                else:
                    raise RowError(self.no_committee_message(target), column)
                ops.decision_record(
                    actor=self.actor,
                    committee=committee,
                    operation=op,
                    outcome=DecisionOutcome.APPROVED,
                )
            else:
                lifecycle.operation_transition(
                    actor=self.actor,
                    operation=op,
                    to_status=edge.target,
                    reason=reason if (edge.needs_reason or edge.decision_or_reason) else "",
                )
            op.refresh_from_db(fields=["status"])
        return UPDATED

    def _committee(self, date: dt.date, ops: Any, kinds: Any) -> Any:
        if date not in self.committees:
            found = (
                Committee.objects.filter(contract=self.contract, kind=kinds.PROGRAMMING, date=date)
                .exclude(title__startswith=TAKEOVER_PREFIX)
                .first()
            )
            self.remember(
                self.committees,
                date,
                found
                or ops.committee_create(
                    actor=self.actor, contract=self.contract, kind=kinds.PROGRAMMING, date=date
                ),
            )
        return self.committees[date]
