"""Importing commitments, decommitments, payments and payment cancellations (`MovementPlanner`):
one row per movement (a « Nature » column) or per reference with « Montant engagé » / « Montant
payé » columns. Each row is matched to its financing line and given an idempotency key
(`movement_key`), then rows go by chunks to `cper.finance.services.movements_record_many`
(`_MovementBatch`), with `movement_record` row by row as the fallback."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError

from cper.finance import services as finance
from cper.finance.models import Movement
from cper.finance.rules import CANCELS, KIND_ARTICLES
from cper.finance.services import MovementDraft
from cper.io import vocabulary as voc
from cper.io.imports.planner import Planner, Progress, RowError, lines_by_financer
from cper.io.imports.report import CREATED, PREVIEW_ROWS, UNCHANGED
from cper.io.imports.values import slices
from cper.io.readers import (
    normalize,
    parse_date,
    parse_money,
)
from cper.money import format_eur
from cper.operations.models import ExternalReference, FinancingLine, LineStatus, Operation

AMOUNT_COLUMNS = (("committed", "commitment"), ("decommitted", "decommitment"), ("paid", "payment"))
KIND_LABELS = {
    "commitment": "engagement",
    "decommitment": "désengagement",
    "payment": "paiement",
    "payment_cancellation": "annulation de paiement",
    "affectation": "affectation",
    "desaffectation": "désaffectation",
}


def movement_key(line_pk: int, kind: str, reference: str, date: dt.date) -> str:
    """The idempotency key of an imported movement: same line, nature, reference and date."""
    digest = hashlib.sha256(f"{line_pk}|{kind}|{reference}|{date.isoformat()}".encode()).hexdigest()
    return f"import:{digest[:48]}"


# Rows of a movements file sent to the finance service at once (`movements_record_many`).
MOVEMENT_CHUNK = 2000

# A movement planned from a row: (idempotency key, line, nature, date, amount, reference, the
# column its messages go to, reference of the movement it cancels).
_Planned = tuple[str, Any, str, dt.date, Decimal, str, str, str]


class MovementPlanner(Planner):
    """Rows are parsed, then sent to `cper.finance.services.movements_record_many` by chunks of
    `chunk_size` rows (each row's movements as one group: all or none), which checks them in
    order against the ledger as the file builds it. A row holding a movement imported before
    with another amount, and a chunk the batch fails on with a database error, go through
    `movement_record` row by row (the original path, same rules and messages)."""

    chunk_size = MOVEMENT_CHUNK
    row_by_row = False  # every row through `movement_record` (the fallback; for comparison)

    def run(self, progress: Progress | None) -> None:
        report, table = self.report, self.table
        has_kind = "kind" in self.cols and "amount" in self.cols
        amount_cols = [(n, k) for n, k in AMOUNT_COLUMNS if n in self.cols]
        report.layout = "long" if has_kind else ("wide" if amount_cols else "")
        if not report.layout:
            report.reject(
                table.header_row,
                "",
                "colonnes absentes : « Nature du mouvement » et « Montant », ou « Montant "
                "engagé » / « Montant payé »",
            )
            return
        if not self.key_header():
            report.reject(table.header_row, "", "colonne absente : référence de l'opération")
            return
        self.operations: dict[str, Any] = {}
        self.lines: dict[int, dict[Any, list[Any]]] = {}
        self.prefetch({self.row_key(row) for _, row in table.rows} - {""})
        keys_seen: dict[str, int] = {}
        total = len(table.rows)
        chunk: list[tuple[int, list[Any], list[_Planned]]] = []
        ticked = 0
        for done, (number, row) in enumerate(table.rows, start=1):
            try:
                planned = self.parse_row(number, row, has_kind, amount_cols)
            except RowError as err:
                for column, message in err.problems:
                    report.reject(number, column, message, row)
                planned = []
            # duplicates within the file
            dup = next((keys_seen[k] for k, *_ in planned if k in keys_seen), None)
            if dup is not None:
                report.reject(
                    number,
                    self.header("movement_ref"),
                    f"mouvement en double : même ligne de financement, nature, référence et "
                    f"date que la ligne {dup}",
                    row,
                )
            elif planned:
                for k, *_ in planned:
                    keys_seen[k] = number
                chunk.append((number, row, planned))
            if len(chunk) >= self.chunk_size or done == total:
                self.apply_chunk(chunk)
                chunk = []
            if not chunk:
                ticked = self.tick_through(progress, ticked, done, total)

    def prefetch(self, keys: set[str]) -> None:
        """The operations the file names and their active lines, read by slices of keys in
        three queries each, instead of two queries per operation as rows come (what
        `find_operation` and `lines_by_financer` would read, the same answer for each key)."""
        for part in slices(keys, 2000):
            found: dict[str, Any] = {}
            if self.partner is not None:
                # (partner, reference) is unique, and a partner belongs to one contract.
                for ref in ExternalReference.objects.filter(
                    partner=self.partner, reference__in=part, operation__contract=self.contract
                ).select_related("operation"):
                    found[ref.reference] = ref.operation
            rest = [k for k in part if k not in found]
            for op in Operation.objects.filter(contract=self.contract, code__in=rest):
                found.setdefault(op.code, op)
            for key in part:
                self.operations[key] = found.get(key)
            by_operation: dict[int, list[Any]] = {op.pk: [] for op in found.values()}
            for line in FinancingLine.objects.filter(
                operation_id__in=list(by_operation), status=LineStatus.ACTIVE
            ).order_by("operation_id", "id"):
                by_operation[line.operation_id].append(line)
            for op_id, lines in by_operation.items():
                self.lines[op_id] = lines_by_financer(None, lines)

    def tick_through(self, progress: Progress | None, before: int, done: int, total: int) -> int:
        """Report progress once rows `before + 1` to `done` are applied (every 0.5 %)."""
        step = max(1, total // 200)
        if progress is not None and (done == total or done // step > before // step):
            progress(done, total)
        return done

    def apply_chunk(self, chunk: list[tuple[int, list[Any], list[_Planned]]]) -> None:
        if self.row_by_row:
            for number, row, planned in chunk:
                self.guarded([(number, row)], functools.partial(self.apply_row, planned, number))
            return
        if not chunk:
            return
        keys = [p[0] for _, _, planned in chunk for p in planned]
        known = dict(
            Movement.objects.filter(idempotency_key__in=keys).values_list(
                "idempotency_key", "amount"
            )
        )
        targets = self.recorded_targets([p for _, _, planned in chunk for p in planned])
        batch = _MovementBatch(self, targets)
        for number, row, planned in chunk:
            if any(p[0] in known and known[p[0]] != p[4] for p in planned):
                # Imported before with another amount: the row's refusal (or that of a
                # movement before it in the row) comes from the row-by-row path, in its place.
                batch.flush()
                self.guarded([(number, row)], functools.partial(self.apply_row, planned, number))
                continue
            new = [p for p in planned if p[0] not in known]
            if not new:
                self.report.tally(UNCHANGED)
                self.preview(number, planned, UNCHANGED)
                continue
            try:
                batch.add(number, row, new)
            except RowError as err:
                for column, message in err.problems:
                    self.report.reject(number, column, message, row)
        batch.flush()

    def recorded_targets(self, planned: list[_Planned]) -> dict[tuple[int, str, str], list[int]]:
        """{(line, nature, reference): [movement ids]} of the recorded movements the planned
        cancellations may name (one query)."""

        wanted = [(p[1].pk, CANCELS[p[2]], p[7]) for p in planned if p[7]]
        out: dict[tuple[int, str, str], list[int]] = {}
        if not wanted:
            return out
        for line_id, kind, reference, pk in (
            Movement.objects.filter(
                financing_line_id__in={w[0] for w in wanted},
                reference__in={w[2] for w in wanted},
            )
            .order_by("id")
            .values_list("financing_line_id", "kind", "reference", "pk")
        ):
            out.setdefault((line_id, kind, reference), []).append(pk)
        return out

    def apply_row(self, planned: list[_Planned], number: int = 0) -> list[str]:
        """One row through `movement_record` (inside `guarded`'s savepoint)."""

        outcome = UNCHANGED
        for key, line, kind, date, amount, reference, column, cancels_ref in planned:
            existing = Movement.objects.filter(idempotency_key=key).first()
            if existing is not None:
                if existing.amount != amount:
                    raise RowError(
                        f"ce mouvement a déjà été importé avec le montant "
                        f"{format_eur(existing.amount)} : une correction s'enregistre "
                        "comme un nouveau mouvement (désengagement, annulation de "
                        "paiement)",
                        column,
                    )
                continue
            cancels = None
            if cancels_ref:
                found = self.recorded_targets(
                    [(key, line, kind, date, amount, "", "", cancels_ref)]
                )
                cancels = self.one_target(
                    list(found.get((line.pk, CANCELS[kind], cancels_ref), [])), kind, cancels_ref
                )
            self.record(line, kind, date, amount, reference, key, column, cancels)
            outcome = CREATED
        self.preview(number, planned, outcome)
        return [outcome]

    def preview(self, number: int, planned: list[_Planned], outcome: str) -> None:
        """One of the first rows as it is written (the dry run shows them): its operation,
        financer and movements."""
        if len(self.report.preview) >= PREVIEW_ROWS or not planned:
            return
        line = planned[0][1]
        # From what the planner read already: no query for a preview.
        partner = self.directory.partners.get(line.partner_id)
        if line.operation_id not in getattr(self, "_codes", {}):
            self._codes = {o.pk: o.code for o in self.operations.values() if o is not None}
        code = self._codes.get(line.operation_id, "")
        self.report.add_preview(
            number,
            outcome,
            {
                "N° d'opération": code,
                "Financeur": str(partner.short_name or partner.name)
                if partner is not None
                else line.financer_label,
                "Mouvements": " ; ".join(
                    f"{KIND_LABELS[kind]} du {date:%d/%m/%Y} : {format_eur(amount)}"
                    f"{f' ({reference})' if reference else ''}"
                    for _, _, kind, date, amount, reference, _, _ in planned
                ),
            },
        )

    def one_target(self, candidates: list[Any], kind: str, reference: str) -> Any:
        """The one movement a cancellation names, or the row's refusal."""

        what = KIND_LABELS[CANCELS[kind]]
        column = self.header("cancels_ref")
        if not candidates:
            raise RowError(f"aucun {what} « {reference} » sur cette ligne de financement", column)
        if len(candidates) > 1:
            raise RowError(
                f"{len(candidates)} {what}s portent la référence « {reference} » sur cette "
                "ligne de financement : lequel est annulé ?",
                column,
            )
        return candidates[0]

    def parse_row(
        self, number: int, row: list[Any], has_kind: bool, amount_cols: list[tuple[str, str]]
    ) -> list[_Planned]:
        problems: list[tuple[str, str]] = []
        key = self.row_key(row)
        op = None
        if not key:
            problems.append((self.key_header(), "référence de l'opération absente"))
        else:
            if key not in self.operations:
                self.operations[key] = self.find_operation(key)
            op = self.operations[key]
            if op is None:
                who = f" pour {self.partner}" if self.partner else ""
                problems.append((self.key_header(), f"opération inconnue « {key} »{who}"))
        date = self.convert(row, "date", parse_date, problems)
        if date is None and not any(c == self.header("date") for c, _ in problems):
            problems.append((self.header("date", "Date"), "date absente"))
        reference = self.text(row, "movement_ref")
        if not reference:
            problems.append(
                (
                    self.header("movement_ref", "N° EJ ou de mandat"),
                    "référence (n° EJ, de mandat) absente",
                )
            )
        amounts: list[tuple[str, Decimal, str]] = []
        if has_kind:
            kind_text = self.text(row, "kind")
            kind = voc.MOVEMENT_KINDS.get(normalize(kind_text))
            if kind is None:
                problems.append(
                    (
                        self.header("kind"),
                        f"nature inconnue « {kind_text} » (engagement, désengagement, paiement, "
                        "annulation de paiement, affectation, désaffectation)",
                    )
                )
            amount = self.convert(row, "amount", parse_money, problems)
            if amount is None and not any(c == self.header("amount") for c, _ in problems):
                problems.append((self.header("amount"), "montant absent"))
            if kind and amount is not None:
                amounts.append((kind, amount, self.header("amount")))
        else:
            for name, kind in amount_cols:
                amount = self.convert(row, name, parse_money, problems)
                if amount is not None and amount != 0:
                    amounts.append((kind, amount, self.header(name)))
            if not amounts and not problems:
                problems.append((self.header(amount_cols[0][0]), "aucun montant"))
        for kind, amount, column in amounts:
            if amount <= 0:
                what = KIND_LABELS[kind]
                fix = {
                    "payment": "enregistrez une annulation de paiement",
                    "commitment": "enregistrez un désengagement",
                }.get(kind, "le montant d'un mouvement est positif, sa nature donne le sens")
                problems.append(
                    (
                        column,
                        f"un {what} ne peut pas être négatif ou nul ({format_eur(amount)}) : {fix}",
                    )
                )
        cancels_ref = self.text(row, "cancels_ref")
        if cancels_ref:
            for kind, _, _ in amounts:
                if kind not in CANCELS:
                    problems.append(
                        (
                            self.header("cancels_ref"),
                            f"{KIND_ARTICLES[kind]} n'annule pas un autre mouvement",
                        )
                    )
        line = None
        if op is not None:
            try:
                line = self.line_of(op, row)
            except RowError as err:
                problems += err.problems
        if problems:
            raise RowError(problems)
        assert line is not None and date is not None
        return [
            (
                movement_key(line.pk, kind, reference, date),
                line,
                kind,
                date,
                amount,
                reference,
                col,
                cancels_ref,
            )
            for kind, amount, col in amounts
        ]

    def line_of(self, op: Any, row: list[Any]) -> Any:
        if op.pk not in self.lines:
            self.lines[op.pk] = lines_by_financer(op)
        by_financer = self.lines[op.pk]
        financer = self.financer_of(row)
        line_ref = self.text(row, "line_ref")
        column = self.header("financer") or self.header("line_ref") or self.key_header()
        if financer is not None:
            financer = self.directory.for_territory(
                financer, departement_code=op.departement_id, epci_siren=op.epci_id
            )
        if financer is None:
            candidates = [line for lines in by_financer.values() for line in lines]
            if line_ref:
                candidates = [c for c in candidates if c.external_ref == line_ref]
            if len(candidates) != 1:
                raise RowError(
                    f"précisez le financeur : l'opération {op.code} a {len(candidates)} lignes "
                    "de financement possibles",
                    column,
                )
            return candidates[0]
        candidates = by_financer.get(financer.key, [])
        if line_ref:
            found = [c for c in candidates if c.external_ref == line_ref]
            if found:
                return found[0]
        rank_text = self.text(row, "line_rank")
        rank = int(rank_text) if rank_text.isdigit() else 1
        if not candidates:
            raise RowError(
                f"l'opération {op.code} n'a pas de ligne de financement "
                f"« {self.directory.label(financer)} »",
                column,
            )
        if rank > len(candidates):
            raise RowError(
                f"l'opération {op.code} n'a que {len(candidates)} ligne(s) "
                f"« {self.directory.label(financer)} »",
                self.header("line_rank") or column,
            )
        if not rank_text and len(candidates) > 1 and not line_ref:
            raise RowError(
                f"l'opération {op.code} a {len(candidates)} lignes "
                f"« {self.directory.label(financer)} » : précisez le rang ou la référence de la "
                "ligne",
                column,
            )
        return candidates[rank - 1]

    def record(
        self,
        line: Any,
        kind: str,
        date: dt.date,
        amount: Decimal,
        reference: str,
        key: str,
        column: str,
        cancels: int | None = None,
    ) -> None:
        try:
            finance.movement_record(
                actor=self.actor,
                financing_line=line,
                kind=kind,
                date=date,
                amount=amount,
                reference=reference,
                idempotency_key=key,
                cancels=cancels,
            )
        except (ValidationError, PermissionDenied) as exc:
            raise self.placed(exc, column) from exc

    def placed(self, exc: Exception, column: str) -> RowError:
        """A refusal of the finance service on the row's columns: messages about the amount
        (and those of no field) belong to the amount's column."""
        err = self.service_error(exc, column)
        return RowError(
            [(column if c in ("", self.header("amount")) else c, m) for c, m in err.problems]
        )


class _MovementBatch:
    """The rows of a chunk on their way to `movements_record_many`, each row's movements as one
    group; a cancellation names a recorded movement or an earlier draft of the batch."""

    def __init__(self, planner: MovementPlanner, targets: dict[tuple[int, str, str], list[int]]):
        self.planner = planner
        self.targets = targets  # (line, nature, reference) → recorded movement ids
        self.drafted: dict[tuple[int, str, str], list[int]] = {}  # … → draft indexes
        self.rows: list[tuple[int, list[Any], list[_Planned], int]] = []  # …, first draft
        self.drafts: list[Any] = []

    def add(self, number: int, row: list[Any], planned: list[_Planned]) -> None:
        drafts = []
        for key, line, kind, date, amount, reference, _, cancels_ref in planned:
            cancels = cancels_draft = None
            if cancels_ref:
                wanted = (line.pk, CANCELS[kind], cancels_ref)
                source, value = self.planner.one_target(
                    [
                        *(("id", pk) for pk in self.targets.get(wanted, [])),
                        *(("draft", i) for i in self.drafted.get(wanted, [])),
                    ],
                    kind,
                    cancels_ref,
                )
                cancels, cancels_draft = (value, None) if source == "id" else (None, value)
            drafts.append(
                MovementDraft(
                    financing_line=line.pk,
                    kind=kind,
                    date=date,
                    amount=amount,
                    reference=reference,
                    idempotency_key=key,
                    cancels=cancels,
                    cancels_draft=cancels_draft,
                    group=number,
                )
            )
        first = len(self.drafts)
        for i, p in enumerate(planned, start=first):
            self.drafted.setdefault((p[1].pk, p[2], p[5]), []).append(i)
        self.drafts += drafts
        self.rows.append((number, row, planned, first))

    def flush(self) -> None:
        if not self.drafts:
            return
        planner, report = self.planner, self.planner.report
        try:
            result = finance.movements_record_many(actor=planner.actor, movements=self.drafts)
        except DatabaseError:
            # The batch wrote nothing (its savepoint is rolled back): row by row instead.
            for number, row, planned, _ in self.rows:
                planner.guarded(
                    [(number, row)], functools.partial(planner.apply_row, planned, number)
                )
        else:
            for number, row, planned, first in self.rows:
                outcomes = result.outcomes[first : first + len(planned)]
                cause = next(
                    (
                        (o, p)
                        for o, p in zip(outcomes, planned, strict=True)
                        if o.status == finance.REFUSED and not o.with_group
                    ),
                    None,
                )
                if cause is None:
                    created = any(o.status == finance.CREATED for o in outcomes)
                    report.tally(CREATED if created else UNCHANGED)
                    planner.preview(number, planned, CREATED if created else UNCHANGED)
                    continue
                assert cause[0].error is not None
                for column, message in planner.placed(cause[0].error, cause[1][6]).problems:
                    report.reject(number, column, message, row)
            for o in result.outcomes:
                if o.status == finance.CREATED and o.movement is not None:
                    m = o.movement
                    wanted = (m.financing_line_id, m.kind, m.reference)
                    self.targets.setdefault(wanted, []).append(m.pk)
        self.drafted, self.rows, self.drafts = {}, [], []
