"""Rules on the maquette and its amendments.

Two kinds of functions live here:

* plain functions on plain data (no database): `spread`, and the amendment rules used by
  `amendment_create` and by the contract-file loader before anything is written. They return
  `Finding`s whose field names the offending change line ("changement n°3",
  "amendments[1].changes[3]") and whose line is the data file's, when there is one;
* the consistency checks registered for `cper contract check` (`@register_check`), which read
  the maquette through the selectors and return `Finding`s whose field is the check's code.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum

from cper.checks import register_check
from cper.contracts.models import Contract, PartnerStatedAmount
from cper.contracts.selectors import volet_parts
from cper.findings import ERROR, INFO, WARNING, Finding
from cper.maquette.models import Amendment, AmendmentKind
from cper.maquette.selectors import (
    allocation_lines,
    envelope_in_force,
    maquette_amounts,
    version_changes,
)
from cper.money import format_eur, format_number, rate

ZERO = Decimal("0.00")
Cell = tuple[str, str, int | None]  # partner code, objective code, year (None: not split by year)


# --- plain rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeLine:
    """One proposed change of an amendment (or one line of version 0), by codes."""

    partner: str
    objective: str
    year: int | None
    amount: Decimal
    note: str = ""
    where: str = ""  # how messages name the line: "changement n°3", "amendments[1].changes[3]"
    line: int | None = None  # line of the data file, when it comes from one

    @property
    def cell(self) -> Cell:
        return (self.partner, self.objective, self.year)

    def label(self) -> str:
        year = self.year if self.year is not None else "toutes années"
        return f"{self.partner} / {self.objective} / {year}"


def spread(
    total: Decimal, weights: Sequence[Decimal], *, quantum: Decimal = Decimal("1")
) -> list[Decimal]:
    """Split `total` in proportion to `weights`, exactly (the parts add up to the total).

    Parts are multiples of `quantum` (1 € by default), by the largest-remainder method; what is
    left below the quantum (cents) goes to the part of largest weight. Deterministic: ties go
    to the earlier weight.
    """
    if not weights:
        raise ValueError("aucune clé de répartition")
    if any(w < 0 for w in weights) or not any(w > 0 for w in weights):
        raise ValueError("clé de répartition sans poids positif")
    cents = int((total * 100).to_integral_value())
    if Decimal(cents) != total * 100:
        raise ValueError("montant au-delà du centime")
    sign = -1 if cents < 0 else 1
    cents = abs(cents)
    q = max(1, int(quantum * 100))
    units, rest = divmod(cents, q)
    wsum = sum(weights, Decimal(0))
    exact = [Decimal(units) * w / wsum for w in weights]
    floors = [int(e) for e in exact]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    parts = [f * q for f in floors]
    biggest = max(range(len(weights)), key=lambda i: (weights[i], -i))
    parts[biggest] += rest
    return [Decimal(sign * p) / 100 for p in parts]


def amendment_header_errors(
    *,
    number: int,
    title: str,
    kind: str,
    effective_on: dt.date | None,
    start_year: int,
    end_year: int,
    others: Iterable[tuple[int, dt.date]] = (),
    expected_number: int | None = None,
    where: str = "",
    line: int | None = None,
) -> list[Finding]:
    """The amendment itself: number, title, kind, and an effective date inside the contract's
    period that does not precede an earlier amendment's (versions and dates then agree).
    `expected_number`, when given, is the only number accepted (amendments follow each other)."""
    errors: list[Finding] = []

    def err(msg: str) -> None:
        errors.append(Finding(where, msg, line=line))

    if number < 1:
        err(f"numéro d'avenant invalide ({number}) : les avenants sont numérotés à partir de 1")
    elif expected_number is not None and number != expected_number:
        err(
            f"numéro d'avenant {number} : les avenants se suivent, le prochain est "
            f"le n°{expected_number}"
        )
    if not title.strip():
        err("intitulé manquant")
    if kind not in AmendmentKind.values:
        err(f"nature inconnue « {kind} » (attendu : {', '.join(AmendmentKind.values)})")
    if effective_on is None:
        err("date d'entrée en vigueur manquante")
    elif not start_year <= effective_on.year <= end_year:
        err(
            f"date d'entrée en vigueur {effective_on.isoformat()} hors de la période du contrat "
            f"({start_year}-{end_year})"
        )
    for other_number, other_date in others:
        if other_number == number:
            err(f"l'avenant n°{number} existe déjà")
        elif effective_on is not None:
            if other_number < number and other_date > effective_on:
                err(
                    f"entre en vigueur le {effective_on.isoformat()}, avant l'avenant "
                    f"n°{other_number} ({other_date.isoformat()}) qui le précède"
                )
            elif other_number > number and other_date < effective_on:
                err(
                    f"entre en vigueur le {effective_on.isoformat()}, après l'avenant "
                    f"n°{other_number} ({other_date.isoformat()}) qui le suit"
                )
    return errors


def change_reference_errors(
    *,
    changes: Sequence[ChangeLine],
    partners: Iterable[str],
    objectives: Iterable[str],
    years: Iterable[int],
) -> list[Finding]:
    """Unknown partner, objective or year (outside the contract's period)."""
    known_p, known_o, known_y = set(partners), set(objectives), set(years)
    errors: list[Finding] = []
    for c in changes:
        if c.partner not in known_p:
            errors.append(Finding(c.where, f"partenaire inconnu « {c.partner} »", line=c.line))
        if c.objective not in known_o:
            errors.append(Finding(c.where, f"objectif inconnu « {c.objective} »", line=c.line))
        if c.year is not None and c.year not in known_y:
            span = f"{min(known_y)}-{max(known_y)}" if known_y else "—"
            errors.append(
                Finding(
                    c.where, f"année {c.year} hors de la période du contrat ({span})", line=c.line
                )
            )
    return errors


def change_kind_errors(*, kind: str, changes: Sequence[ChangeLine]) -> list[Finding]:
    """No empty amendment or zero change; an addition only adds; a redeployment balances."""
    errors: list[Finding] = []
    if not changes:
        return [Finding("", "l'avenant ne porte aucun changement")]
    for c in changes:
        if c.amount == 0:
            errors.append(Finding(c.where, f"changement nul ({c.label()})", line=c.line))
        elif kind == AmendmentKind.ADDITION and c.amount < 0:
            errors.append(
                Finding(
                    c.where,
                    f"un avenant d'ajout ne retire pas de crédits ({c.label()} : "
                    f"{format_eur(c.amount)}) ; déclarez-le « redeployment » ou « mixed »",
                    line=c.line,
                )
            )
    if kind == AmendmentKind.REDEPLOYMENT:
        total = sum((c.amount for c in changes), ZERO)
        added = sum((c.amount for c in changes if c.amount > 0), ZERO)
        removed = sum((c.amount for c in changes if c.amount < 0), ZERO)
        if total != 0:
            last = changes[-1]
            errors.append(
                Finding(
                    last.where,
                    f"redéploiement non équilibré : la somme des changements fait "
                    f"{format_eur(total)} au lieu de 0 (ajouts {format_eur(added)}, "
                    f"retraits {format_eur(removed)})",
                    line=last.line,
                )
            )
    return errors


def negative_cell_errors(
    *, base: Mapping[Cell, Decimal], changes: Sequence[ChangeLine]
) -> list[Finding]:
    """No partner × objective × year allocation may be negative once the changes are applied.

    The error names the change line that takes the cell below zero (the last negative line of
    that cell, in the order given)."""
    after: dict[Cell, Decimal] = defaultdict(lambda: ZERO)
    culprit: dict[Cell, ChangeLine] = {}
    for c in changes:
        after[c.cell] += c.amount
        if c.amount < 0:
            culprit[c.cell] = c
    errors: list[Finding] = []
    for cell, delta in after.items():
        before = base.get(cell, ZERO)
        if before + delta < 0 and cell in culprit:
            c = culprit[cell]
            errors.append(
                Finding(
                    c.where,
                    f"l'allocation {c.label()} deviendrait négative : {format_eur(before)} "
                    f"{'+' if delta >= 0 else '−'} {format_eur(abs(delta))} = "
                    f"{format_eur(before + delta)}",
                    line=c.line,
                )
            )
    return errors


def amendment_errors(
    *,
    number: int,
    title: str,
    kind: str,
    effective_on: dt.date | None,
    start_year: int,
    end_year: int,
    others: Iterable[tuple[int, dt.date]],
    changes: Sequence[ChangeLine],
    partners: Iterable[str],
    objectives: Iterable[str],
    base: Mapping[Cell, Decimal],
    expected_number: int | None = None,
    where: str = "",
    line: int | None = None,
) -> list[Finding]:
    """Every rule an amendment must pass; `base` is the maquette (by cell) it amends."""
    errors = amendment_header_errors(
        number=number,
        title=title,
        kind=kind,
        effective_on=effective_on,
        start_year=start_year,
        end_year=end_year,
        others=others,
        expected_number=expected_number,
        where=where,
        line=line,
    )
    ref_errors = change_reference_errors(
        changes=changes,
        partners=partners,
        objectives=objectives,
        years=range(start_year, end_year + 1),
    )
    errors += ref_errors
    kind_errors = change_kind_errors(kind=kind, changes=changes)
    if kind_errors and kind_errors[0].where == "" and where:
        kind_errors = [
            Finding(where, e.message, line=line) if not e.where else e for e in kind_errors
        ]
    errors += kind_errors
    if not ref_errors:
        errors += negative_cell_errors(base=base, changes=changes)
    return errors


def change_source_findings(
    *,
    where: str,
    programme: str | None,
    programme_known: bool,
    provenance: str,
    provenances: Iterable[str],
) -> list[Finding]:
    """What a change of an amendment says of its money: a known LOLF programme, if any, and a
    known provenance."""
    findings: list[Finding] = []
    if programme and not programme_known:
        findings.append(Finding(where, f"programme LOLF inconnu « {programme} »"))
    if provenance not in provenances:
        findings.append(Finding(where, f"provenance « {provenance} »"))
    return findings


def initial_allocation_findings(
    *,
    where: str,
    amount: Decimal,
    partner: str,
    partner_known: bool,
    objective: str,
    objective_known: bool,
    year: int | None,
    years: Iterable[int],
    programme: str | None,
    programme_known: bool,
) -> list[Finding]:
    """A version-0 allocation set by hand (`allocation_initial_set`): not negative, known
    partner, objective and programme, a year within the contract's period."""
    findings: list[Finding] = []
    if amount < 0:
        findings.append(Finding(where, "une allocation initiale ne peut être négative"))
    if not partner_known:
        findings.append(Finding(where, f"partenaire inconnu « {partner} »"))
    if not objective_known:
        findings.append(Finding(where, f"objectif inconnu « {objective} »"))
    if year is not None and year not in years:
        findings.append(Finding(where, f"année {year} hors de la période du contrat"))
    if programme and not programme_known:
        findings.append(Finding(where, f"programme LOLF inconnu « {programme} »"))
    return findings


def initial_change_findings(
    *, where: str, by_version: Mapping[int, Decimal], delta: Decimal
) -> list[Finding]:
    """Changing a cell's version-0 amount by `delta` must keep the cell >= 0 in every version:
    `by_version` is the cell's amount each version adds (0: the initial amount). The first
    version where it would go below 0 is named."""
    running = ZERO
    for number in sorted(by_version):
        running += by_version[number]
        if number == 0:
            running += delta
        if running < 0:
            when = "après l’avenant n°" + str(number) if number else "dès la version 0"
            return [
                Finding(
                    where,
                    f"l'allocation deviendrait négative {when} ({format_eur(running)})",
                )
            ]
    return []


def apply_changes(
    base: Mapping[Cell, Decimal], changes: Iterable[ChangeLine]
) -> dict[Cell, Decimal]:
    """The maquette by cell once `changes` are applied (a new dict; `base` is not modified)."""
    out = dict(base)
    for c in changes:
        out[c.cell] = out.get(c.cell, ZERO) + c.amount
    return out


# --- consistency checks (`cper contract check`) ------------------------------------------------


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{format_number(value, 2)} %"


@register_check
def check_allocations_cover_contract(contract: Contract) -> list[Finding]:
    """Every partner and objective has money; version 0 fits the envelope."""
    findings: list[Finding] = []
    lines = allocation_lines(contract=contract)
    initial = maquette_amounts(contract=contract, version=0, group_by=()).get((), ZERO)
    if initial > contract.envelope:
        findings.append(
            Finding(
                "allocations-au-dela-de-l-enveloppe",
                f"La maquette initiale ({format_eur(initial)}) dépasse l'enveloppe du contrat "
                f"({format_eur(contract.envelope)}) de {format_eur(initial - contract.envelope)}.",
                ERROR,
            )
        )
    elif initial < contract.envelope and initial > 0:
        findings.append(
            Finding(
                "enveloppe-non-repartie",
                f"La maquette initiale ({format_eur(initial)}) ne répartit pas toute l'enveloppe "
                f"du contrat ({format_eur(contract.envelope)}) : "
                f"{format_eur(contract.envelope - initial)} restent à répartir.",
                WARNING,
            )
        )
    elif initial == contract.envelope:
        in_force = maquette_amounts(contract=contract, group_by=()).get((), ZERO)
        findings.append(
            Finding(
                "enveloppe",
                f"La maquette initiale répartit exactement l'enveloppe ({format_eur(initial)}) ; "
                f"en vigueur aujourd'hui : {format_eur(in_force)} pour une enveloppe de "
                f"{format_eur(envelope_in_force(contract=contract))} (enveloppe initiale + ajouts "
                f"des avenants).",
                INFO,
            )
        )
    allocated_objectives = set(lines.values_list("objective_id", flat=True).distinct())
    for obj in contract.objectives.select_related("axis").order_by("axis__number", "position"):
        if obj.pk not in allocated_objectives:
            findings.append(
                Finding(
                    "objectif-sans-allocation",
                    f"L'objectif {obj.code} n'a aucune allocation.",
                    WARNING,
                )
            )
    allocated_partners = set(lines.values_list("partner_id", flat=True).distinct())
    for partner in contract.partners.all():
        if partner.pk not in allocated_partners:
            findings.append(
                Finding(
                    "partenaire-sans-allocation",
                    f"Le partenaire « {partner.name} » n'a aucune allocation dans la maquette.",
                    ERROR,
                )
            )
    return findings


@register_check
def check_amendments(contract: Contract) -> list[Finding]:
    """Redeployments balance, additions only add, amendments are in date order, and no
    partner × objective × year allocation is negative in any version."""
    findings: list[Finding] = []
    amendments = list(
        Amendment.objects.filter(contract=contract)
        .annotate(
            total=Sum("changes__amount"),
            negatives=Count("changes", filter=Q(changes__amount__lt=0)),
            lines=Count("changes"),
        )
        .order_by("number")
    )
    previous: Amendment | None = None
    for a in amendments:
        total = a.total or ZERO
        if a.lines == 0:
            findings.append(
                Finding(
                    "avenant-vide", f"L'avenant n°{a.number} ne porte aucun changement.", WARNING
                )
            )
        if a.kind == AmendmentKind.REDEPLOYMENT and total != 0:
            findings.append(
                Finding(
                    "redeploiement-non-equilibre",
                    f"L'avenant n°{a.number} (redéploiement) n'est pas équilibré : ses changements "
                    f"font {format_eur(total)} au lieu de 0.",
                    ERROR,
                )
            )
        if a.kind == AmendmentKind.ADDITION and a.negatives:
            findings.append(
                Finding(
                    "ajout-avec-retraits",
                    f"L'avenant n°{a.number} (ajout) retire des crédits sur "
                    f"{a.negatives} ligne(s).",
                    ERROR,
                )
            )
        if not contract.start_year <= a.effective_on.year <= contract.end_year:
            findings.append(
                Finding(
                    "avenant-hors-periode",
                    f"L'avenant n°{a.number} entre en vigueur le {a.effective_on.isoformat()}, "
                    f"hors de la période du contrat.",
                    ERROR,
                )
            )
        if previous is not None and a.effective_on < previous.effective_on:
            findings.append(
                Finding(
                    "avenants-dans-le-desordre",
                    f"L'avenant n°{a.number} entre en vigueur ({a.effective_on.isoformat()}) avant "
                    f"l'avenant n°{previous.number} ({previous.effective_on.isoformat()}).",
                    ERROR,
                )
            )
        previous = a

    cells: dict[Cell, Decimal] = {}
    for number, changes in version_changes(contract=contract).items():
        for cell, delta in changes.items():
            cells[cell] = cells.get(cell, ZERO) + delta
            if cells[cell] < 0:
                where = f"après l'avenant n°{number}" if number else "dans la maquette initiale"
                partner, objective, year = cell
                findings.append(
                    Finding(
                        "allocation-negative",
                        f"L'allocation {partner} / {objective} / {year or 'toutes années'} est "
                        f"négative {where} ({format_eur(cells[cell])}).",
                        ERROR,
                    )
                )
    if amendments and not any(f.level == ERROR for f in findings):
        findings.append(
            Finding(
                "avenants",
                f"{len(amendments)} avenant(s) : aucune allocation négative dans aucune version, "
                f"redéploiements équilibrés.",
                INFO,
            )
        )
    return findings


@register_check
def check_partner_stated_totals(contract: Contract) -> list[Finding]:
    """The maquette's initial amounts per partner (and per axis) match what the contract states."""
    stated = list(
        PartnerStatedAmount.objects.filter(partner__contract=contract)
        .select_related("partner", "axis")
        .order_by("partner__position", "axis__number")
    )
    if not stated:
        return []
    by_partner = maquette_amounts(contract=contract, version=0, group_by=("partner",))
    by_partner_axis = maquette_amounts(contract=contract, version=0, group_by=("partner", "axis"))
    findings: list[Finding] = []
    matched = 0
    for s in stated:
        if s.axis is None:
            computed = by_partner.get((s.partner.code,), ZERO)
            what = f"Le total de {s.partner}"
        else:
            computed = by_partner_axis.get((s.partner.code, s.axis.number), ZERO)
            what = f"Le montant de {s.partner} sur l'axe {s.axis.number}"
        if computed != s.amount:
            findings.append(
                Finding(
                    "total-partenaire-different",
                    f"{what} dans la maquette initiale ({format_eur(computed)}) diffère du montant "
                    f"annoncé ({format_eur(s.amount)}, {s.get_provenance_display()}) de "
                    f"{format_eur(computed - s.amount)}.",
                    ERROR,
                )
            )
        else:
            matched += 1
    if matched:
        findings.append(
            Finding(
                "totaux-partenaires",
                f"{matched} montant(s) annoncé(s) par les partenaires retrouvé(s) à l'euro près "
                f"dans la maquette initiale.",
                INFO,
            )
        )
    return findings


@register_check
def check_computed_axis_shares(contract: Contract) -> list[Finding]:
    """Axis shares stated by the contract vs computed, volet by volet (issue 12): an axis's
    share is of its volet's own maquette — version 0 for the volets of the contract as signed,
    the version of the amendment that brought a volet for that volet — never of the whole
    contract's (the mobility volet added by an amendment would otherwise shrink every share of
    the other volet). With several volets, one line per volet explains its envelope, its
    maquette and the shares of its axes."""
    parts = [p for p in volet_parts(contract=contract) if p.axes]
    several = len(parts) > 1
    tolerance = Decimal(contract.share_tolerance)
    by_version: dict[int, dict[tuple, Decimal]] = {}  # type: ignore[type-arg]
    in_force = maquette_amounts(contract=contract, group_by=("axis",)) if several else {}
    lines: list[Finding] = []
    gaps: list[Finding] = []
    for part in parts:
        version = part.amendment_number or 0
        if version not in by_version:
            by_version[version] = maquette_amounts(
                contract=contract, version=version, group_by=("axis",)
            )
        amounts = by_version[version]
        total = sum((amounts.get((n,), ZERO) for n in part.axis_numbers), ZERO)
        if not total:
            continue
        where = f" du {part.title[0].lower()}{part.title[1:]}" if several else ""
        maquette = "maquette initiale" if not version else f"maquette de l'avenant n°{version}"
        texts = []
        for axis in part.axes:
            computed = rate(amounts.get((axis.number,), ZERO), total)
            texts.append(
                f"axe {axis.number} : annoncée {_pct(axis.stated_share)}, calculée {_pct(computed)}"
            )
            if axis.stated_share is None or computed is None:
                continue
            gap = computed - Decimal(axis.stated_share)
            if abs(gap) > tolerance:
                gaps.append(
                    Finding(
                        "part-calculee-ecart",
                        f"Axe {axis.number} : part calculée sur la {maquette}{where} "
                        f"{_pct(computed)} pour {_pct(axis.stated_share)} annoncée, soit un écart "
                        f"de {format_number(gap, 2)} point(s), au-delà de la tolérance "
                        f"({format_number(tolerance, 2)} point).",
                        WARNING,
                    )
                )
        if not several:
            lines.append(
                Finding(
                    "parts-calculees",
                    "Parts par axe (maquette initiale) — " + " ; ".join(texts),
                    INFO,
                )
            )
            continue
        envelope = (
            f"enveloppe {format_eur(part.envelope)} ({part.provenance})"
            if part.envelope is not None
            else "enveloppe non renseignée"
        )
        brought = f", avenant n°{part.amendment_number}" if part.amendment_number else ""
        now = sum((in_force.get((n,), ZERO) for n in part.axis_numbers), ZERO)
        lines.append(
            Finding(
                "parts-calculees",
                f"{part.title} ({part.period_label}{brought}) : {envelope}, {maquette} "
                f"{format_eur(total)}, en vigueur aujourd'hui {format_eur(now)} ; parts de ses "
                f"axes dans sa maquette — " + " ; ".join(texts),
                INFO,
            )
        )
    return lines + gaps
