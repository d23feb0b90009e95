"""What the two importers share (`Planner`): reading a row's cells through the located table's
columns, converting them with the problem placed on the column's header, placing a service's
refusal (`ValidationError`, `PermissionDenied`) on the file's columns, applying a group of rows
in its own savepoint (the whole group or none of it), resolving an objective, a financer or an
operation the file names, and reporting progress."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction

from cper.audit.services import Actor
from cper.contracts.models import Action, Contract, Objective, Partner
from cper.io import vocabulary as voc
from cper.io.imports.report import ImportReport
from cper.io.readers import (
    Table,
    cell,
    cell_text,
    is_blank,
    normalize,
)
from cper.money import MoneyError
from cper.operations.models import (
    ExternalReference,
    LineStatus,
    Operation,
)

Progress = Callable[[int, int], None]


class RowError(Exception):
    """One or more problems with a row (or a group of rows): [(column header, message)]."""

    def __init__(self, problems: list[tuple[str, str]] | str, column: str = ""):
        if isinstance(problems, str):
            problems = [(column, problems)]
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


# Service field names → the vocabulary field whose column a message belongs to.
FIELD_COLUMNS = {
    "title": "title",
    "description": "description",
    "owner": "owner_siret",
    "name": "owner_name",
    "siret": "owner_siret",
    "rna": "owner_rna",
    "legal_category": "owner_category",
    "communes": "communes",
    "objective": "objective",
    "action": "action",
    "start_date": "start_date",
    "end_date": "end_date",
    "cost_ht": "cost_ht",
    "cost_ttc": "cost_ttc",
    "cost_base": "cost_base",
    "code": "code",
    "external_references": "reference",
    "status": "status",
    "financer_label": "financer",
    "partner": "financer",
    "financer_kind": "financer_kind",
    "contractualised": "contractualised",
    "budget_nature": "budget_nature",
    "programme": "programme",
    "year": "year",
    "external_ref": "line_ref",
    "date": "date",
    "kind": "kind",
    "reference": "movement_ref",
}


class Planner:
    def __init__(
        self,
        *,
        actor: Actor,
        contract: Contract,
        partner: Partner | None,
        table: Table,
        report: ImportReport,
        directory: voc.FinancerDirectory,
        programmed_on: dt.date | None = None,
    ):
        self.actor = actor
        # Taking over a register: the date of the decisions that programmed its operations
        # before cper, given once for the file (`--programmed-on`), for rows without a
        # committee date.
        self.programmed_on = programmed_on
        self.contract = contract
        self.partner = partner
        self.table = table
        self.report = report
        self.directory = directory
        self.cols = table.field_columns()
        self.objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
        self.actions = {a.code: a for a in Action.objects.filter(contract=contract)}
        self.known_communes: dict[int, list[str]] = {}
        self.known_lines: dict[int, list[Any]] = {}

    # -- helpers -------------------------------------------------------------------------------

    def header(self, name: str, default: str = "") -> str:
        col = self.cols.get(name)
        return col.header if col else default

    def value(self, row: list[Any], name: str) -> Any:
        v = cell(row, self.cols.get(name))
        return None if is_blank(v) else v

    def text(self, row: list[Any], name: str) -> str:
        return cell_text(self.value(row, name))

    def convert(
        self,
        row: list[Any],
        name: str,
        parser: Callable[[Any], Any],
        problems: list[tuple[str, str]],
    ) -> Any:
        raw = self.value(row, name)
        if raw is None:
            return None
        try:
            return parser(raw)
        except (ValueError, MoneyError) as exc:
            problems.append((self.header(name), str(exc)))
            return None

    def service_error(self, exc: Exception, default_column: str = "") -> RowError:
        """A service's ValidationError/PermissionDenied as problems placed on columns."""
        if isinstance(exc, RowError):
            return exc
        if isinstance(exc, ValidationError):
            problems: list[tuple[str, str]] = []
            if hasattr(exc, "error_dict"):
                for key, errors in exc.message_dict.items():
                    name = FIELD_COLUMNS.get(key)
                    column = self.header(name) if name else ""
                    for msg in errors:
                        problems.append((column or default_column, msg))
            else:
                problems = [(default_column, m) for m in exc.messages]
            return RowError(problems)
        if isinstance(exc, PermissionDenied):
            return RowError([(default_column, str(exc) or "action non autorisée")])
        if isinstance(exc, MoneyError):
            return RowError([(default_column, str(exc))])
        return RowError([(default_column, f"erreur à l'enregistrement : {exc}")])

    def guarded(self, rows: list[tuple[int, list[Any]]], fn: Callable[[], list[str]]) -> None:
        """Apply one group of rows in its own savepoint; a problem rejects the whole group."""
        sid = transaction.savepoint()
        self.undo: list[tuple[dict[Any, Any], Any]] = []
        try:
            outcomes = fn()
        except (RowError, ValidationError, PermissionDenied, MoneyError, DatabaseError) as exc:
            transaction.savepoint_rollback(sid)
            # What the group created is gone: so must be its entries in the planner's caches.
            for cache, key in self.undo:
                cache.pop(key, None)
            self.reject_group(rows, self.service_error(exc).problems)
            return
        transaction.savepoint_commit(sid)
        for outcome in outcomes:
            self.report.tally(outcome)

    def reject_group(
        self, rows: list[tuple[int, list[Any]]], problems: list[tuple[str, str]]
    ) -> None:
        """Reject a group's first row with the problems, its other rows along with it."""
        number, cells = rows[0]
        for column, message in problems:
            self.report.reject(number, column, message, cells)
        for number, cells in rows[1:]:
            self.report.reject(
                number, "", f"rejetée avec la ligne {rows[0][0]} (même opération)", cells
            )

    def remember(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        """Cache what a group created, forgotten again if the group is rolled back."""
        cache[key] = value
        getattr(self, "undo", []).append((cache, key))

    def tick(self, progress: Progress | None, done: int, total: int) -> None:
        """Report progress each time another 0.5 % of the rows is done (rows come by chunks,
        so `done` jumps: the step crossed is what counts, not an exact multiple)."""
        if progress is None:
            return
        step = done // max(1, total // 200)
        if done == total or step != getattr(self, "_step", None):
            self._step = step
            progress(done, total)

    def run(self, progress: Progress | None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared parsers ------------------------------------------------------------------------

    def objective_of(self, raw: Any, column: str) -> Objective:
        text = cell_text(raw)
        m = re.match(r"^\s*(?:objectif\s*)?(\d+(?:\.\d+)*)", text, re.IGNORECASE)
        code = m.group(1) if m else text
        objective = self.objectives.get(code)
        if objective is None:
            known = ", ".join(sorted(self.objectives)[:30])
            raise RowError(f"objectif inconnu « {text} » (objectifs du contrat : {known})", column)
        return objective

    def action_of(self, raw: Any, column: str) -> Action | None:
        """An action of the contract's third level by its code (« 1.1.1 », « Action 1.1.1 —
        … »); None for a blank cell. Its objective is checked by the services."""
        text = cell_text(raw)
        if not text:
            return None
        m = re.match(r"^\s*(?:action\s*)?(\d+(?:\.\d+[a-z]?)+)", text, re.IGNORECASE)
        action = self.actions.get(m.group(1) if m else text)
        if action is None:
            known = ", ".join(sorted(self.actions)[:30]) or "aucune"
            raise RowError(f"action inconnue « {text} » (actions du contrat : {known})", column)
        return action

    def financer_of(self, row: list[Any]) -> voc.Financer | None:
        kind_text = self.text(row, "financer_kind")
        kind = None
        if kind_text:
            kind = voc.FINANCER_KIND_WORDS.get(normalize(kind_text))
            if kind is None:
                raise RowError(
                    f"type de financeur inconnu « {kind_text} » (partenaire du contrat, fonds "
                    "européen, opérateur de l'État, Banque des Territoires, autre financement "
                    "public, autofinancement, financement privé)",
                    self.header("financer_kind"),
                )
        text = self.text(row, "financer")
        if not text:
            if kind == "owner":
                return voc.Financer(kind="owner")
            if self.partner is not None:
                return voc.Financer(kind="partner", partner_id=self.partner.pk)
            return None
        financer = self.directory.resolve(text, kind)
        if financer is None:
            names = ", ".join(p.short_name or p.name for p in self.directory.partners.values())
            raise RowError(
                f"financeur inconnu « {text} » (partenaires : {names} ; ou FEDER, FSE+, "
                "Autofinancement, « Autre financement public : NOM »…)",
                self.header("financer"),
            )
        return financer

    def find_operation(self, key: str) -> Any:
        known = getattr(self, "known", None)
        if known is not None and key in known:
            return known[key]
        if self.partner is not None:
            ref = (
                ExternalReference.objects.filter(partner=self.partner, reference=key)
                .select_related("operation")
                .first()
            )
            if ref is not None and ref.operation.contract_id == self.contract.pk:
                return ref.operation
        return Operation.objects.filter(contract=self.contract, code=key).first()

    def row_key(self, row: list[Any]) -> str:
        if self.partner is not None and "reference" in self.cols:
            return self.text(row, "reference")
        return self.text(row, "code") or self.text(row, "reference")

    def key_header(self) -> str:
        if self.partner is not None and "reference" in self.cols:
            return self.header("reference")
        return self.header("code") or self.header("reference")


def lines_by_financer(
    operation: Any, lines: list[Any] | None = None
) -> dict[tuple[str, int | None, str], list[Any]]:
    """The operation's active lines by financer, in order (`lines`: already read)."""

    if lines is None:
        lines = list(operation.financing_lines.filter(status=LineStatus.ACTIVE).order_by("id"))
    out: dict[tuple[str, int | None, str], list[Any]] = {}
    for line in lines:
        key = voc.Financer(line.financer_kind, line.partner_id, line.financer_label).key
        out.setdefault(key, []).append(line)
    return out
