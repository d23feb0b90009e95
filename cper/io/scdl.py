"""The grants awarded by the contract's partners, in the national open-data format SCDL
*subventions* 2.1.1 (schema in `data/scdl-subventions-2.1.1/`, mapping in `docs/scdl.md`).

One row per beneficiary per attributing partner per operation: the partner's programmed amount
on the operation (from the aggregation service), its SIRET (`Partner.siret`, set in the
contract file, or the `CPER_SCDL_SIRET` setting — never guessed), the maître d'ouvrage as
beneficiary, the share of the eligible cost as `pourcentageSubvention`, `notificationUE` from
the plan's EU-fund lines and `datesPeriodeVersement` from the payments. `dateConvention` and
`referenceDecision` come from the partner's own decision in force on its line when there is one
(issue 12), else from the committee and the partner's file number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from cper.contracts.models import Contract, Partner
from cper.finance.aggregation import execution
from cper.finance.models import Movement, MovementKind
from cper.formulas import neutralise
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    Decision,
    DecisionOutcome,
    ExternalReference,
    FinancerKind,
    LineStatus,
    Operation,
    OperationTransition,
    PartnerDecision,
    PartnerDecisionOutcome,
)
from cper.operations.selectors import operation_queryset

SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "scdl-subventions-2.1.1" / "schema.json"
OBJET_MAX = 256


class ScdlError(ValueError):
    """The export cannot be made as asked (French message)."""


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def field_names() -> list[str]:
    return [f["name"] for f in schema()["fields"]]


def partner_siret(partner: Partner) -> str:
    """The partner's SIRET: its `siret` field (contract file), else the `CPER_SCDL_SIRET`
    setting ({partner code: SIRET}, e.g. from the environment variable
    `CPER_SCDL_SIRET="region=…,etat=…"`); empty when neither says it."""
    configured = getattr(settings, "CPER_SCDL_SIRET", None)
    if configured is None:
        configured = dict(
            item.split("=", 1)
            for item in os.environ.get("CPER_SCDL_SIRET", "").replace(";", ",").split(",")
            if "=" in item
        )
    # The operator's setting wins over the contract file: it is how a SIRET is corrected
    # before the file is.
    return str(configured.get(partner.code, "")).strip() or partner.siret


def missing_sirets(contract: Contract, partner: Partner | None = None) -> list[Partner]:
    """The partners (all, or `partner`) whose SIRET is unknown: their grants are left out of
    the SCDL file, which names the granting body by its SIRET and never by a guess."""
    partners = [partner] if partner else list(contract.partners.order_by("pk"))
    return [p for p in partners if not partner_siret(p)]


def missing_siret_message(missing: list[Partner]) -> str:
    names = ", ".join(f"{p.name} ({p.code})" for p in missing)
    return (
        f"SIRET de l'attribuant inconnu pour : {names} — leurs subventions ne sont pas dans le "
        "fichier. Renseignez `siret` pour ce partenaire dans le fichier du contrat (puis `cper "
        "contract load`), ou le réglage CPER_SCDL_SIRET (code=SIRET) ; il n'est jamais deviné."
    )


@dataclass
class ScdlRow:
    values: dict[str, Any]


def _percent(part: Decimal, whole: Decimal | None) -> Decimal:
    """The grant's share of the eligible cost as a decimal fraction in [0.01, 1]."""
    if not whole or whole <= 0:
        return Decimal("1")
    share = (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return min(Decimal("1"), max(Decimal("0.01"), share)).normalize()


def _convention_dates(op_ids: list[int]) -> dict[int, dt.date]:
    """Date of the convention: the committee that approved the operation, else the day it
    entered a programmed status, else the day it was recorded."""
    from django.utils import timezone

    out: dict[int, dt.date] = {}
    for op_id, created in Operation.objects.filter(pk__in=op_ids).values_list("pk", "created_at"):
        out[op_id] = timezone.localtime(created).date()
    for op_id, at in (
        OperationTransition.objects.filter(
            operation_id__in=op_ids, to_status__in=list(PROGRAMMED_STATUSES)
        )
        .order_by("-at")
        .values_list("operation_id", "at")
    ):
        out[op_id] = timezone.localtime(at).date()  # the earliest one wins (ordered -at)
    for op_id, date in (
        Decision.objects.filter(operation_id__in=op_ids, outcome=DecisionOutcome.APPROVED)
        .order_by("-committee__date")
        .values_list("operation_id", "committee__date")
    ):
        out[op_id] = date
    return out


def _partner_decisions(op_ids: list[int]) -> dict[tuple[int, int], tuple[dt.date, str]]:
    """{(operation, partner): (date, reference)} of the partner's decision in force granting
    its line on the operation (issue 12: the latest in date on each line; with several lines,
    the latest of their decisions) — the SCDL's `dateConvention` and `referenceDecision`."""
    in_force: dict[int, tuple[dt.date, int, str, str, int, int]] = {}
    for line_id, op_id, partner_id, day, pk, outcome, reference in PartnerDecision.objects.filter(
        financing_line__operation_id__in=op_ids, financing_line__status=LineStatus.ACTIVE
    ).values_list(
        "financing_line_id",
        "financing_line__operation_id",
        "partner_id",
        "date",
        "pk",
        "outcome",
        "reference",
    ):
        seen = in_force.get(line_id)
        if seen is None or (day, pk) > seen[:2]:
            in_force[line_id] = (day, pk, outcome, reference, op_id, partner_id)
    out: dict[tuple[int, int], tuple[dt.date, str]] = {}
    for day, _, outcome, reference, op_id, partner_id in sorted(in_force.values()):
        if outcome == PartnerDecisionOutcome.GRANTED:
            out[(op_id, partner_id)] = (day, reference)  # sorted by date: the latest wins
    return out


# Operations are read by chunks (in the file's order): memory is bounded by a chunk's
# operations, payments and references, never by the register (issue 14).
SCDL_CHUNK = 2000


def grants(
    contract: Contract,
    *,
    partner: Partner | None = None,
    as_of: dt.date | None = None,
    user: Any = None,
) -> list[ScdlRow]:
    """The SCDL rows of the contract's grants (programmed partner money per operation)."""
    return list(iter_grants(contract, partner=partner, as_of=as_of, user=user))


def iter_grants(
    contract: Contract,
    *,
    partner: Partner | None = None,
    as_of: dt.date | None = None,
    user: Any = None,
) -> Iterator[ScdlRow]:
    """`grants`, produced by chunks of operations: what a background export writes. A partner
    without SIRET refuses the export at the first row asked (`ScdlError`)."""

    partners = [partner] if partner else list(contract.partners.all())
    missing = missing_sirets(contract, partner)
    if partner is not None and missing:
        raise ScdlError(missing_siret_message(missing))  # nothing at all to export
    known = {p.code for p in partners if p not in missing}
    filters: dict[str, Any] = {"partner": partner.code} if partner else {}
    by_code = {p.code: p for p in partners}
    end_of_contract = dt.date(contract.end_year, 12, 31)
    # The operations the reader may see: each chunk's grants are drawn from them.
    every = sorted(operation_queryset(contract=contract, user=user).values_list("code", flat=True))
    for start in range(0, len(every), SCDL_CHUNK):
        # The service's amounts for this chunk of operations only: asked for the whole
        # register at once, its ~300,000 partner × operation rows held 600 MB at scale M.
        result = execution(
            contract=contract,
            as_of=as_of,
            group_by=("partner", "operation"),
            filters={**filters, "operation": every[start : start + SCDL_CHUNK]},
            viewer=user,
        )
        by_operation: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for row in result.rows:
            partner_code, op_code = _key(row)
            if row.programmed and row.programmed > 0:
                by_operation[op_code][partner_code] = row.programmed
        chunk = sorted(by_operation)
        if not chunk:
            continue
        ops = {
            o.code: o
            for o in Operation.objects.filter(contract=contract, code__in=chunk).select_related(
                "owner"
            )
        }
        op_ids = [o.pk for o in ops.values()]
        conventions = _convention_dates(op_ids)
        decided = _partner_decisions(op_ids)
        eu = set(
            Operation.objects.filter(
                pk__in=op_ids,
                financing_lines__financer_kind=FinancerKind.EU_FUND,
                financing_lines__status=LineStatus.ACTIVE,
            ).values_list("pk", flat=True)
        )
        refs = {
            (r.partner_id, r.operation_id): r.reference
            for r in ExternalReference.objects.filter(operation_id__in=op_ids)
        }
        payments: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
        pay = Movement.objects.filter(
            financing_line__operation_id__in=op_ids, kind=MovementKind.PAYMENT
        )
        if as_of:
            pay = pay.filter(date__lte=as_of)
        for op_id, partner_id, date in pay.values_list(
            "financing_line__operation_id", "financing_line__partner_id", "date"
        ):
            payments[(op_id, partner_id)].append(date)
        for op_code in chunk:
            for partner_code in sorted(by_operation[op_code]):
                amount = by_operation[op_code][partner_code]
                p = by_code.get(partner_code)
                op = ops.get(op_code)
                if p is None or op is None or p.code not in known:
                    continue
                yield _grant_row(
                    p,
                    op,
                    amount,
                    convention=conventions.get(op.pk, end_of_contract),
                    decided=decided.get((op.pk, p.pk), (None, "")),
                    dates=sorted(payments.get((op.pk, p.pk), [])),
                    reference=refs.get((p.pk, op.pk), op.code),
                    eu=op.pk in eu,
                    end_of_contract=end_of_contract,
                )


def _grant_row(
    p: Partner,
    op: Any,
    amount: Decimal,
    *,
    convention: dt.date,
    decided: tuple[dt.date | None, str],
    dates: list[dt.date],
    reference: str,
    eu: bool,
    end_of_contract: dt.date,
) -> ScdlRow:
    decision_day, decision_ref = decided
    if decision_day is not None:
        convention = decision_day
    if dates:
        period = (
            dates[0].isoformat()
            if len(dates) == 1
            else (f"{dates[0].isoformat()}/{dates[-1].isoformat()}")
        )
    elif op.start_date and op.end_date:
        period = f"{op.start_date.isoformat()}/{op.end_date.isoformat()}"
    else:
        period = f"{convention.isoformat()}/{max(convention, end_of_contract).isoformat()}"
    return ScdlRow(
        {
            "nomAttribuant": p.name,
            "idAttribuant": partner_siret(p),
            "dateConvention": convention.isoformat(),
            "referenceDecision": decision_ref or reference,
            "nomBeneficiaire": op.owner.name,
            "idBeneficiaire": op.owner.siret or "",
            "rnaBeneficiaire": op.owner.rna or "",
            "objet": op.title[:OBJET_MAX],
            "montant": f"{amount:f}",
            "nature": "aide en numéraire",
            "conditionsVersement": "unique" if len(dates) == 1 else "échelonné",
            "datesPeriodeVersement": period,
            "idRAE": "",
            "notificationUE": "oui" if eu else "non",
            "pourcentageSubvention": f"{_percent(amount, op.eligible_cost):f}",
            "dispositifAide": "",
        }
    )


def _key(row: Any) -> tuple[str, str]:
    """(partner code, operation code) of an execution row grouped by partner and operation."""
    key = row.key
    if isinstance(key, dict):
        return str(key["partner"]), str(key["operation"])
    return str(key[0]), str(key[1])


def _inert(value: Any, spec: dict[str, Any]) -> Any:
    """A text field's value that no spreadsheet evaluates (`cper.formulas`), within the
    field's maximum length; numbers, dates and booleans as they are."""
    if spec["type"] != "string" or not isinstance(value, str):
        return value
    text = neutralise(value)
    limit = (spec.get("constraints") or {}).get("maxLength")
    if limit and len(text) > limit:
        text = neutralise(value[: limit - 1])
    return text


def render_csv(rows: Iterable[ScdlRow]) -> bytes:
    """UTF-8, comma-separated, header = field names, as the schema requires; text fields
    neutralised (`cper.formulas`)."""
    buffer = io.StringIO(newline="")
    write_csv(rows, buffer)
    return buffer.getvalue().encode("utf-8")


def write_csv(rows: Iterable[ScdlRow], out: IO[str]) -> int:
    """`render_csv` into a text stream, row by row (a background export writes its file so);
    answers the rows written."""
    fields = schema()["fields"]
    names = [f["name"] for f in fields]
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    written = 0
    for row in rows:
        writer.writerow({f["name"]: _inert(row.values.get(f["name"], ""), f) for f in fields})
        written += 1
    return written


def export(
    contract: Contract,
    output: str | Path,
    *,
    partner: Partner | None = None,
    as_of: dt.date | None = None,
    user: Any = None,
) -> int:
    """Write the SCDL file at `output`, row by row (bounded memory); returns the rows written.
    The file appears whole or not at all: written beside it, then renamed."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partiel")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            written = write_csv(iter_grants(contract, partner=partner, as_of=as_of, user=user), out)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return written
