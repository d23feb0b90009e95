"""Rules of the register: plain functions that return findings (`cper.findings.Finding`, the
project's one type), never raise.

Each finding names the field it is about, so that a form, an import row or an API answer can
show it next to the right input. Services turn the `error` findings into a `ValidationError`
keyed by field; `warning` findings are shown (detail page, import report) but do not block.
No database access here: callers pass the values and figures (statuses come as values with
their French label, and whether they are terminal, programmed… as booleans).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cper.findings import ERROR, WARNING, Finding
from cper.money import ZERO, format_eur, format_percent, rate

# Public aid ceiling for an investment grant: 80 % of the eligible cost (décret n° 2018-514 du
# 25 juin 2018, art. 1er), with exceptions decided case by case: a warning, not an error.
PUBLIC_AID_CEILING = Decimal("80")

LA_POSTE_SIREN = "356000000"
SIRET_RE = re.compile(r"^\d{14}$")
SIREN_RE = re.compile(r"^\d{9}$")
# W + 9 characters: the 3-character code of the prefecture (digits, or 2A/2B for Corsica)
# then 6 digits, e.g. W595012345, W2A1000123.
RNA_RE = re.compile(r"^W(?:\d{3}|2[AB]\d)\d{6}$")


# --- identifiers -------------------------------------------------------------------------------


def normalise_identifier(value: str | None) -> str:
    """Spaces, dots and dashes removed, upper case: `130 029 747 00017` → `13002974700017`."""
    return re.sub(r"[\s.\-\u00a0\u202f]", "", value or "").upper()


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum used by SIREN and SIRET numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes `partial + digit` Luhn-valid."""
    for d in "0123456789":
        if luhn_valid(partial + d):
            return d
    raise AssertionError("unreachable")  # pragma: no cover


def siret_valid(value: str) -> bool:
    """14 digits, a valid checksum — Luhn, except La Poste's establishments (SIREN 356000000)
    whose SIRETs have a sum of digits divisible by 5 — and a valid SIREN (its 9 first digits,
    Luhn), as the SCDL's official validator checks it."""
    if not SIRET_RE.match(value):
        return False
    if value.startswith(LA_POSTE_SIREN):
        # La Poste's establishments (more than the NIC's Luhn key allows) use this rule instead;
        # its head office, 356 000 000 00048, is Luhn-valid.
        return sum(int(c) for c in value) % 5 == 0 or value == LA_POSTE_SIREN + "00048"
    return luhn_valid(value) and luhn_valid(value[:9])


def _spaced_siren(siren: str) -> str:
    return f"{siren[:3]} {siren[3:6]} {siren[6:]}"


def siret_errors(value: str | None, *, field: str = "siret") -> list[Finding]:
    if not value:
        return []
    v = normalise_identifier(value)
    if not v.isdigit():
        return [Finding(field, f"le SIRET « {value} » ne doit contenir que des chiffres")]
    if len(v) != 14:
        return [Finding(field, f"le SIRET « {value} » doit compter 14 chiffres (il en a {len(v)})")]
    if not siret_valid(v):
        if v.startswith(LA_POSTE_SIREN) or not luhn_valid(v):
            # The whole number's key (its last digit, on the NIC) is checked first.
            return [
                Finding(
                    field,
                    f"le SIRET « {value} » est invalide : la clé de contrôle ne correspond pas",
                )
            ]
        return [
            Finding(
                field,
                f"le SIRET « {value} » est invalide : son SIREN (les 9 premiers chiffres, "
                f"{_spaced_siren(v[:9])}) n'a pas une clé de contrôle valide",
            )
        ]
    return []


def siren_errors(value: str | None, *, field: str = "siren") -> list[Finding]:
    if not value:
        return []
    v = normalise_identifier(value)
    if not SIREN_RE.match(v):
        return [Finding(field, f"le SIREN « {value} » doit compter 9 chiffres")]
    if not luhn_valid(v):
        return [Finding(field, f"le SIREN « {value} » est invalide : la clé ne correspond pas")]
    return []


def rna_errors(value: str | None, *, field: str = "rna") -> list[Finding]:
    if not value:
        return []
    v = normalise_identifier(value)
    if not RNA_RE.match(v):
        return [
            Finding(
                field,
                f"le numéro RNA « {value} » doit être un W suivi de 9 caractères (ex. W595012345)",
            )
        ]
    return []


def owner_errors(
    *, name: str, siret: str | None, rna: str | None, legal_category: str, categories: Iterable[str]
) -> list[Finding]:
    """A project owner: a name, a known legal category, and a valid SIRET or RNA number."""
    out: list[Finding] = []
    if not (name or "").strip():
        out.append(Finding("name", "le nom du maître d'ouvrage est obligatoire"))
    if legal_category not in set(categories):
        out.append(Finding("legal_category", f"catégorie juridique inconnue « {legal_category} »"))
    out += siret_errors(siret)
    out += rna_errors(rna)
    if not siret and not rna:
        field = "rna" if legal_category == "association" else "siret"
        out.append(
            Finding(field, "un SIRET (ou, pour une association, un numéro RNA) est obligatoire")
        )
    return out


# --- operations ----------------------------------------------------------------------------------


def operation_errors(
    *,
    title: str,
    start_date: Any,
    end_date: Any,
    cost_ht: Decimal | None,
    cost_ttc: Decimal | None,
    cost_base: str,
) -> list[Finding]:
    out: list[Finding] = []
    if not (title or "").strip():
        out.append(Finding("title", "l'intitulé est obligatoire"))
    if start_date and end_date and end_date < start_date:
        out.append(Finding("end_date", "la fin prévue précède le début prévu"))
    for field, value, label in (("cost_ht", cost_ht, "HT"), ("cost_ttc", cost_ttc, "TTC")):
        if value is not None and value < 0:
            out.append(Finding(field, f"le coût total {label} ne peut pas être négatif"))
    if cost_ht is not None and cost_ttc is not None and 0 <= cost_ttc < cost_ht:
        out.append(Finding("cost_ttc", "le coût TTC est inférieur au coût HT"))
    if cost_base == "ttc" and cost_ttc is None and cost_ht is not None:
        out.append(
            Finding("cost_ttc", "le financement porte sur le TTC : indiquez le coût total TTC")
        )
    if cost_base == "ht" and cost_ht is None and cost_ttc is not None:
        out.append(Finding("cost_ht", "le financement porte sur le HT : indiquez le coût total HT"))
    return out


def commune_errors(
    *, requested: list[str], found: dict[str, str], region_code: str, field: str = "communes"
) -> list[Finding]:
    """`requested`: INSEE codes asked for; `found`: {code: region code} of those that exist."""
    out: list[Finding] = []
    unknown = [c for c in requested if c not in found]
    if unknown:
        out.append(Finding(field, f"commune(s) inconnue(s) : {', '.join(unknown)}"))
    outside = [c for c in requested if c in found and found[c] != region_code]
    if outside:
        out.append(
            Finding(field, f"commune(s) hors de la région du contrat : {', '.join(outside)}")
        )
    dupes = sorted({c for c in requested if requested.count(c) > 1})
    if dupes:
        out.append(Finding(field, f"commune(s) en double : {', '.join(dupes)}"))
    return out


def contract_objects_findings(
    *,
    contract_id: int,
    objective: Any,
    owner: Any,
    secondary_objectives: Iterable[Any] = (),
    markers: Iterable[Any] = (),
    external_references: Any = None,
    action: Any = None,
) -> list[Finding]:
    """The objects an operation names belong to its contract (each has `contract_id`, `code`);
    its main objective and owner are given; its action, if any, is one of its main
    objective's (`objective_id`)."""
    out: list[Finding] = []
    if objective is None:
        out.append(Finding("objective", "l'objectif principal est obligatoire"))
    elif objective.contract_id != contract_id:
        out.append(Finding("objective", "cet objectif n'est pas celui de ce contrat"))
    if action is not None:
        if action.contract_id != contract_id:
            out.append(Finding("action", f"l'action {action.code} n'est pas de ce contrat"))
        elif objective is not None and action.objective_id != objective.pk:
            out.append(
                Finding(
                    "action",
                    f"l'action {action.code} n'appartient pas à l'objectif principal "
                    f"{objective.code}",
                )
            )
    if owner is None:
        out.append(Finding("owner", "le maître d'ouvrage est obligatoire"))
    for obj in secondary_objectives or []:
        if obj.contract_id != contract_id:
            out.append(Finding("secondary_objectives", f"objectif {obj.code} hors du contrat"))
    for marker in markers or []:
        if marker.contract_id != contract_id:
            out.append(Finding("markers", f"marqueur {marker.code} hors du contrat"))
    for partner, reference in (external_references or {}).items():
        if partner.contract_id != contract_id:
            out.append(Finding("external_references", f"partenaire {partner.code} hors du contrat"))
        elif not str(reference).strip():
            out.append(Finding("external_references", f"référence vide pour {partner.code}"))
    return out


def terminal_edit_findings(
    *, terminal: bool, status_label: str, fields: Iterable[str], editable: Iterable[str]
) -> list[Finding]:
    """A closed, rejected or abandoned operation: only the `editable` fields still change."""
    if not terminal:
        return []
    allowed = set(editable)
    return [
        Finding(
            key,
            f"une opération « {status_label} » n'est plus modifiable "
            "(seuls la description, l'avancement et la publication le sont)",
        )
        for key in fields
        if key not in allowed
    ]


def frozen_objective_findings(
    *, programmed: bool, current_id: int | None, new_id: int | None
) -> list[Finding]:
    """The main objective of a programmed operation does not change: its lines count in the
    maquette under it."""
    if not programmed or new_id is None or new_id == current_id:
        return []
    return [
        Finding(
            "objective",
            "l'objectif principal d'une opération programmée ne change plus : ses lignes "
            "comptent dans la maquette au titre de cet objectif",
        )
    ]


def examinable_findings(*, examinable: bool, status_label: str, to_agenda: bool) -> list[Finding]:
    """Only a submitted, under-review or adjourned operation goes on an agenda (`to_agenda`)
    or receives a committee's decision."""
    if examinable:
        return []
    what = "être inscrite à l'ordre du jour" if to_agenda else "recevoir de décision"
    return [
        Finding(
            "operation",
            f"une opération « {status_label} » ne peut pas {what} "
            "(déposée, en instruction ou ajournée seulement)",
        )
    ]


def committee_findings(*, kind: Any, date_given: bool, kinds: Iterable[str]) -> list[Finding]:
    out: list[Finding] = []
    if kind not in set(kinds):
        out.append(Finding("kind", "nature de comité inconnue"))
    if not date_given:
        out.append(Finding("date", "la date du comité est obligatoire"))
    return out


# --- financing plans -----------------------------------------------------------------------------


def line_errors(
    *,
    amount: Decimal | None,
    financer_kind: str,
    partner_id: int | None,
    contractualised: bool,
    financer_label: str = "",
) -> list[Finding]:
    """One line of a co-financing plan."""
    out: list[Finding] = []
    if amount is None:
        out.append(Finding("amount", "le montant est obligatoire"))
    elif amount < 0:
        out.append(Finding("amount", f"le montant ne peut pas être négatif ({format_eur(amount)})"))
    if financer_kind == "partner" and not partner_id:
        out.append(Finding("partner", "choisissez le partenaire du contrat qui finance"))
    if financer_kind != "partner" and partner_id:
        out.append(
            Finding("partner", "seule une ligne « partenaire du contrat » désigne un partenaire")
        )
    if contractualised and financer_kind != "partner":
        out.append(
            Finding(
                "contractualised",
                "seule la part d'un partenaire du contrat peut être contractualisée "
                "(les autres financements sont des co-financements)",
            )
        )
    if (
        financer_kind in {"eu_fund", "other_public", "private", "state_operator"}
        and not (financer_label or "").strip()
    ):
        out.append(Finding("financer_label", "nommez le financeur (ex. FEDER, FSE+, FTJ, ADEME…)"))
    elif financer_kind == "state_operator" and state_operator_label(financer_label) is None:
        known = ", ".join(label for _, label in STATE_OPERATORS)
        out.append(
            Finding(
                "financer_label",
                f"opérateur de l'État inconnu « {financer_label} » (opérateurs connus : {known} ; "
                "sinon : autre financement public)",
            )
        )
    return out


def plan_line_findings(
    *,
    values: dict[str, Any],
    contract_id: int,
    start_year: int,
    end_year: int,
    allowed_objective_ids: Iterable[int | None],
    plan_frozen: bool,
    status_label: str,
    financer_kinds: Collection[str],
    budget_natures: Collection[str],
) -> list[Finding]:
    """A line as it would be written on an operation's plan: the line's own rules
    (`line_errors`), then its place in the operation and contract: a known financer kind, a
    partner of this contract, the operation's main or a secondary objective, a known budget
    nature, a year within the contract (plus three), a plan not frozen by the operation's
    status. `values`: the line's fields (objects with `pk` and `contract_id`)."""
    partner = values.get("partner")
    out = line_errors(
        amount=values.get("amount"),
        financer_kind=values.get("financer_kind") or "",
        partner_id=partner.pk if partner else None,
        contractualised=bool(values.get("contractualised")),
        financer_label=values.get("financer_label") or "",
    )
    if values.get("financer_kind") not in financer_kinds:
        out.append(
            Finding("financer_kind", f"type de financeur inconnu « {values.get('financer_kind')} »")
        )
    if partner is not None and partner.contract_id != contract_id:
        out.append(Finding("partner", "ce partenaire n'est pas signataire de ce contrat"))
    objective = values.get("objective")
    if objective is not None and objective.pk not in set(allowed_objective_ids):
        out.append(
            Finding(
                "objective",
                "l'objectif de la ligne doit être l'objectif principal ou un objectif "
                "secondaire de l'opération",
            )
        )
    if values.get("budget_nature") not in budget_natures:
        out.append(Finding("budget_nature", "nature budgétaire inconnue"))
    year = values.get("year")
    if year is not None and not (start_year <= int(year) <= end_year + 3):
        out.append(
            Finding(
                "year",
                f"l'année {year} est hors de la période du contrat ({start_year}–{end_year})",
            )
        )
    if plan_frozen:
        out.append(
            Finding("status", f"le plan de financement d'une opération « {status_label} » est figé")
        )
    for key, label in (("bop", "BOP"), ("activity", "activité")):
        if len(str(values.get(key) or "").strip()) > 30:
            out.append(Finding(key, f"{label} : le code dépasse 30 caractères"))
    out += state_line_findings(
        contractualised=bool(values.get("contractualised")),
        partner_kind=getattr(partner, "kind", None),
        budget_nature=values.get("budget_nature"),
        has_programme=values.get("programme") is not None,
    )
    return out


def state_line_findings(
    *,
    contractualised: bool,
    partner_kind: str | None,
    budget_nature: str | None,
    has_programme: bool,
) -> list[Finding]:
    """A contractualised State line (AE/CP) says its LOLF programme: execution by programme,
    what the ministries and the ANCT ask for, counts it nowhere otherwise. A warning, not an
    error: lines recorded before issue 12 have none."""
    if (
        contractualised
        and partner_kind == "state"
        and budget_nature == "ae_cp"
        and not has_programme
    ):
        return [
            Finding(
                "programme",
                "programme : une ligne contractualisée de l'État (AE/CP) indique son programme "
                "LOLF (P112…), sans quoi elle manque à l'exécution par programme",
                WARNING,
            )
        ]
    return []


# --- contracted, valorised, co-financed (issue 12) -----------------------------------------------

# The State's operators that co-finance CPER operations, as (code, label): a line of kind
# « opérateur de l'État » names one of them in its financer label. A constant rather than a
# table: the list is short, changes with a law (not with a contract), and is read by pure rules,
# forms and imports without a query; a new operator is a reviewed one-line change.
STATE_OPERATORS: tuple[tuple[str, str], ...] = (
    ("ademe", "ADEME"),
    ("agence-eau-artois-picardie", "Agence de l'eau Artois-Picardie"),
    ("agence-eau-seine-normandie", "Agence de l'eau Seine-Normandie"),
    ("afitf", "AFITF"),
    ("vnf", "VNF"),
    ("anru", "ANRU"),
    ("bpifrance", "Bpifrance"),
    ("anah", "Anah"),
    ("anct", "ANCT"),
    ("ofb", "Office français de la biodiversité"),
    ("cnc", "CNC"),
    ("ans", "Agence nationale du sport"),
)


def _folded(text: str) -> str:
    return re.sub(r"[\s'’\-]+", " ", (text or "").strip().casefold())


_OPERATOR_NAMES = {
    _folded(name): label for code, label in STATE_OPERATORS for name in (code, label)
}


def state_operator_label(text: str | None) -> str | None:
    """The label of the State operator `text` names (its code or its label, in any case);
    None when it is not one of `STATE_OPERATORS`."""
    return _OPERATOR_NAMES.get(_folded(text or ""))


CONTRACTUALISE = "contractualise"
VALORISE = "valorise"
COFINANCEMENT = "cofinancement"
LINE_CATEGORY_LABELS = {
    CONTRACTUALISE: "contractualisé",
    VALORISE: "valorisé",
    COFINANCEMENT: "co-financement",
}


def line_category(line: Any) -> str:
    """Where a line's money stands, as CPER practice says: `contractualise` (a signatory's
    credits in the maquette), `valorise` (a signatory's credits outside the contracted
    envelope: a partner's line not contractualised) or `cofinancement` (EU funds, the State's
    operators, Banque des Territoires, other public or private funds, the owner's own funds).
    `line`: an object or a dict with `financer_kind` and `contractualised`."""

    def get(key: str) -> Any:
        return line[key] if isinstance(line, dict) else getattr(line, key)

    if get("financer_kind") != "partner":
        return COFINANCEMENT
    return CONTRACTUALISE if get("contractualised") else VALORISE


@dataclass(frozen=True)
class PlanFigures:
    """The totals of a co-financing plan (active lines only), the three categories apart:
    contractualised + valorised + cofinanced = total."""

    eligible_cost: Decimal | None
    total: Decimal
    contractualised: Decimal
    valorised: Decimal
    public: Decimal
    cofinanced: Decimal = ZERO

    @property
    def gap(self) -> Decimal | None:
        """Eligible cost minus the plan's total: > 0 means lines are missing."""
        if self.eligible_cost is None:
            return None
        return self.eligible_cost - self.total

    @property
    def public_aid_rate(self) -> Decimal | None:
        return public_aid_rate(public=self.public, eligible_cost=self.eligible_cost)


PUBLIC_KINDS = frozenset(
    {"partner", "eu_fund", "other_public", "state_operator", "banque_des_territoires"}
)


def plan_figures(*, eligible_cost: Decimal | None, lines: Iterable[Any]) -> PlanFigures:
    """Totals of the active lines (objects or dicts with amount, financer_kind,
    contractualised, status), each line in its `line_category`."""
    total = public = ZERO
    by_category = dict.fromkeys((CONTRACTUALISE, VALORISE, COFINANCEMENT), ZERO)

    def get(line: Any, key: str) -> Any:
        return line[key] if isinstance(line, dict) else getattr(line, key)

    for line in lines:
        if get(line, "status") != "active":
            continue
        amount = Decimal(get(line, "amount"))
        total += amount
        by_category[line_category(line)] += amount
        if get(line, "financer_kind") in PUBLIC_KINDS:
            public += amount
    return PlanFigures(
        eligible_cost,
        total,
        contractualised=by_category[CONTRACTUALISE],
        valorised=by_category[VALORISE],
        public=public,
        cofinanced=by_category[COFINANCEMENT],
    )


def public_aid_rate(*, public: Decimal, eligible_cost: Decimal | None) -> Decimal | None:
    """Public money (partners, EU funds, other public) over the eligible cost, in percent."""
    if not eligible_cost:
        return None
    return rate(public, eligible_cost)


def plan_balance_findings(figures: PlanFigures) -> list[Finding]:
    """Does the plan balance with the eligible cost? If not, by how much (a warning)."""
    if figures.eligible_cost is None:
        if figures.total:
            return [
                Finding(
                    "cost_ht",
                    "coût éligible non renseigné : l'équilibre du plan ne peut être vérifié",
                    WARNING,
                )
            ]
        return []
    gap = figures.gap
    assert gap is not None
    if gap > 0:
        return [
            Finding(
                "financing_lines",
                f"le plan de financement ne s'équilibre pas : il manque {format_eur(gap)} "
                f"pour couvrir le coût éligible de {format_eur(figures.eligible_cost)}",
                WARNING,
            )
        ]
    if gap < 0:
        return [
            Finding(
                "financing_lines",
                f"le plan de financement ne s'équilibre pas : il dépasse le coût éligible "
                f"de {format_eur(-gap)} ({format_eur(figures.total)} pour "
                f"{format_eur(figures.eligible_cost)})",
                WARNING,
            )
        ]
    return []


def aid_rate_findings(
    figures: PlanFigures, *, ceiling: Decimal = PUBLIC_AID_CEILING
) -> list[Finding]:
    r = figures.public_aid_rate
    if r is None:
        return []
    if r > 100:
        return [
            Finding(
                "financing_lines",
                f"les aides publiques ({format_percent(r)}) dépassent le coût éligible",
                WARNING,
            )
        ]
    if r > ceiling:
        return [
            Finding(
                "financing_lines",
                f"taux d'aides publiques de {format_percent(r)} : au-delà du plafond de "
                f"{format_percent(ceiling, 0)} (décret n° 2018-514), une dérogation est nécessaire",
                WARNING,
            )
        ]
    return []


# --- over-programming ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammedFigure:
    """Programmed vs maquette for one partner × objective (labels for the message)."""

    partner_label: str
    objective_label: str
    maquette: Decimal
    programmed: Decimal


def over_programming_findings(figures: Iterable[ProgrammedFigure], *, policy: str) -> list[Finding]:
    """Programmed above the maquette: an error when the contract blocks, a warning otherwise."""
    level = ERROR if policy == "block" else WARNING
    out: list[Finding] = []
    for f in figures:
        if f.programmed > f.maquette:
            out.append(
                Finding(
                    "amount",
                    f"sur-programmation {f.partner_label} × objectif {f.objective_label} : "
                    f"{format_eur(f.programmed)} programmés pour {format_eur(f.maquette)} "
                    f"à la maquette (dépassement de {format_eur(f.programmed - f.maquette)})",
                    level,
                )
            )
    return out


# --- the ledger's floor --------------------------------------------------------------------------


def affected_floor_findings(
    *,
    amount: Decimal,
    peak: Decimal,
    peak_day: Any = None,
    tolerance: Decimal = ZERO,
    cancelling: bool = False,
    field: str = "amount",
    subject: str = "la ligne",
    cancel_verb: str = "l'annuler",
) -> list[Finding]:
    """A line's programmed amount never falls below the AP affectée it reached (`peak`, on
    `peak_day`): the ledger's invariant `affected ≤ programmed + tolerance` at every date (AP/CP
    chain of local authorities), as `committed_floor_findings` for the committed amount."""
    floor = amount + tolerance
    if peak <= floor:
        return []
    beyond = f" (au-delà de la tolérance du contrat, {format_eur(tolerance)})" if tolerance else ""
    when = f" le {peak_day:%d/%m/%Y}" if peak_day is not None else ""
    what = cancel_verb if cancelling else f"ramener son montant à {format_eur(amount)}"
    return [
        Finding(
            field,
            f"L'AP affectée à {subject} a atteint {format_eur(peak)}{when} : {what} la rendrait "
            f"supérieure au programmé à cette date dans le grand livre{beyond}.",
        )
    ]


def committed_floor_findings(
    *,
    amount: Decimal,
    committed: Decimal,
    peak: Decimal | None = None,
    peak_day: Any = None,
    tolerance: Decimal = ZERO,
    cancelling: bool = False,
    field: str = "amount",
    subject: str = "la ligne",
    cancel_verb: str = "l'annuler",
) -> list[Finding]:
    """A line's programmed amount never falls below what is committed on it (the ledger's
    invariant `committed ≤ programmed + tolerance`, at every date, as `cper contract check`
    reads it): lowering the line's amount to `amount`, or cancelling it (`cancelling`: its
    programmed amount becomes 0), is refused with what to decommit first. `committed` is the
    line's committed amount today; `peak`, the highest it reached (on `peak_day`), which a
    decommitment today does not undo. `subject` and `cancel_verb` name the line and what
    cancels it in the message ("la ligne État", "abandonner l'opération")."""
    floor = amount + tolerance
    beyond = f" (au-delà de la tolérance du contrat, {format_eur(tolerance)})" if tolerance else ""
    if committed > floor:
        to_decommit = committed - floor
        if cancelling:
            message = (
                f"{subject[:1].upper()}{subject[1:]} porte {format_eur(committed)} d'engagé : "
                f"désengager d'abord {format_eur(to_decommit)} avant de {cancel_verb}{beyond}."
            )
        else:
            message = (
                f"Le montant ({format_eur(amount)}) est inférieur à l'engagé "
                f"({format_eur(committed)}) : désengager d'abord {format_eur(to_decommit)}{beyond}."
            )
        return [Finding(field, message)]
    if peak is not None and peak > floor:
        when = f" le {peak_day:%d/%m/%Y}" if peak_day is not None else ""
        what = cancel_verb if cancelling else f"ramener son montant à {format_eur(amount)}"
        return [
            Finding(
                field,
                f"L'engagé de {subject} a atteint {format_eur(peak)}{when} : {what} le rendrait "
                f"supérieur au programmé à cette date dans le grand livre{beyond}.",
            )
        ]
    return []


# --- issue 12: partners' decisions ---------------------------------------------------------------

DECISION_DOCUMENT_TYPES = {".pdf": "PDF", ".odt": "ODT", ".docx": "DOCX"}
DECISION_DOCUMENT_MAX_BYTES = 20 * 1024 * 1024
# What each accepted type starts with: a PDF its header, ODT and DOCX are ZIP archives.
_DOCUMENT_MAGIC = {".pdf": (b"%PDF-",), ".odt": (b"PK\x03\x04",), ".docx": (b"PK\x03\x04",)}


def decision_document_findings(*, name: str, size: int, head: bytes) -> list[Finding]:
    """The signed act attached to a partner's decision: PDF, ODT or DOCX (checked on its first
    bytes too, not only its name), at most 20 Mo."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in DECISION_DOCUMENT_TYPES:
        return [
            Finding(
                "document",
                f"acte signé : format « {suffix or name} » refusé (PDF, ODT ou DOCX attendu)",
            )
        ]
    out: list[Finding] = []
    if not head.startswith(_DOCUMENT_MAGIC[suffix]):
        out.append(
            Finding(
                "document",
                f"acte signé : le contenu n'est pas un fichier {DECISION_DOCUMENT_TYPES[suffix]}",
            )
        )
    if size > DECISION_DOCUMENT_MAX_BYTES:
        out.append(
            Finding(
                "document",
                f"acte signé : {size / 1024 / 1024:.1f} Mo, au-delà de la limite de 20 Mo",
            )
        )
    if size == 0:
        out.append(Finding("document", "acte signé : le fichier est vide"))
    return out


def partner_decision_findings(
    *,
    kind: str,
    kinds: Collection[str],
    outcome: str,
    outcomes: Collection[str],
    amount: Decimal | None,
    date: Any,
    today: Any,
    line_amount: Decimal,
    has_partner: bool,
    line_active: bool,
) -> list[Finding]:
    """A partner's decision on its financing line: a known kind and outcome, a date not in the
    future, an amount ≥ 0 — positive when it grants, 0 for a refusal or a withdrawal; an amount
    above the line's is shown (the plan should follow) but not refused."""
    out: list[Finding] = []
    if not has_partner:
        out.append(Finding("financing_line", "ligne de financement : pas de partenaire du contrat"))
    if not line_active:
        out.append(Finding("financing_line", "ligne de financement : elle est annulée"))
    if kind not in kinds:
        out.append(Finding("kind", f"nature de l'acte : « {kind} » inconnue"))
    if outcome not in outcomes:
        out.append(Finding("outcome", f"sens de la décision : « {outcome} » inconnu"))
    if date is None:
        out.append(Finding("date", "date de la décision : obligatoire"))
    elif date > today:
        out.append(Finding("date", f"date de la décision : {date:%d/%m/%Y} est dans le futur"))
    if amount is None:
        out.append(Finding("amount", "montant décidé : obligatoire"))
        return out
    if amount < ZERO:
        out.append(Finding("amount", "montant décidé : il ne peut pas être négatif"))
    elif outcome == "granted" and amount == ZERO:
        out.append(
            Finding("amount", "montant décidé : une décision accordée porte un montant positif")
        )
    elif outcome != "granted" and amount != ZERO:
        out.append(
            Finding("amount", "montant décidé : un refus ou un retrait porte un montant de 0 €")
        )
    elif amount > line_amount:
        out.append(
            Finding(
                "amount",
                f"montant décidé : {format_eur(amount)}, au-delà du montant de la ligne "
                f"({format_eur(line_amount)}) — mettre le plan de financement à jour",
                WARNING,
            )
        )
    return out
