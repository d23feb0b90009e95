"""Deterministic illustrative register for a contract: owners, operations, co-financing plans,
committees, decisions and the transition log, written through the register's batch services.

Everything generated is marked `provenance="illustrative"`. The same seed and scale give the
same data (no dependence on today's date, on dict order or on database ids). The maquette is
respected: per partner × objective, the programmed lines add up to 55–92 % of the maquette in
force (or, when no maquette is loaded, of an illustrative split of the partners' stated totals
by the axes' stated shares).

The register is written as any other batch of new operations is: the maîtres d'ouvrage by
`bulk.owners_create_many`, then the operations by `bulk.operations_create_many` in chunks —
each with its communes, markers, partners' references, co-financing plan and the status it has
reached, the walk dated in the past (`OperationDraft.reached_at`), the programming committee
that decided it (created with its first operation: `CommitteeDraft`) and its decision (approval,
adjournment, rejection), or the next committee's agenda; the committees that decide nothing here
(the next programming committee, the steering committees) through `committee_create`. The
services check every row by the register's rules, audit it (acting: `Actor.system()`) and keep
the execution summaries up to date, in the demo's one transaction; one more audit entry records
the run. What the services date now: the rows' creation times and the audit trail. The finance
app's demo (commitments and payments, through the ledger's service) runs afterwards.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cper.audit.actions import AuditAction
from cper.audit.services import Actor, audit_record
from cper.contracts.models import (
    Axis,
    BudgetProgramme,
    Contract,
    Marker,
    Objective,
    Partner,
    PartnerStatedAmount,
)
from cper.db import Provenance, collector_paused
from cper.maquette import selectors as maquette_selectors
from cper.operations import bulk
from cper.operations.lifecycle import status_path
from cper.operations.models import (
    Committee,
    CommitteeKind,
    CostBase,
    Decision,
    FinancerKind,
    FinancingLine,
    LegalCategory,
    Operation,
    OperationStatus,
    OperationTransition,
    ProjectOwner,
)
from cper.operations.rules import luhn_check_digit
from cper.operations.services import committee_create
from cper.territories.models import Commune, Epci, ProjectTerritory

S = OperationStatus
ILLUSTRATIVE = Provenance.ILLUSTRATIVE
SCALES = {"S": 2_000, "M": 100_000, "L": 500_000}
BATCH = 2_000  # operations per call of the batch service
PARIS = dt.timezone(dt.timedelta(hours=1))  # fixed offset: deterministic, close enough

# Status mix (per 1000): most operations are programmed or later, as mid-contract.
STATUS_MIX: list[tuple[str, int]] = [
    (S.DRAFT, 40),
    (S.SUBMITTED, 50),
    (S.UNDER_REVIEW, 60),
    (S.ADJOURNED, 20),
    (S.REJECTED, 20),
    (S.ABANDONED, 20),
    (S.PROGRAMMED, 250),
    (S.IN_PROGRESS, 350),
    (S.COMPLETED, 120),
    (S.CLOSED, 70),
]
# The lifecycle path leading to each status: the walk the batch service takes from draft (an
# abandoned operation is abandoned as a draft).
PATHS: dict[str, list[str]] = {
    status: [edge.target for edge in status_path(S.DRAFT, status) or []] for status in S.values
}
PROGRAMMED_LIKE = frozenset({S.PROGRAMMED, S.IN_PROGRESS, S.COMPLETED, S.CLOSED})
# Which committees (by year) an operation of each status was decided by.
DECISION_YEARS: dict[str, tuple[int, int]] = {
    S.CLOSED: (2021, 2023),
    S.COMPLETED: (2021, 2024),
    S.IN_PROGRESS: (2022, 2025),
    S.PROGRAMMED: (2024, 2026),
    S.ADJOURNED: (2023, 2026),
    S.REJECTED: (2021, 2026),
}
REFERENCE_DAY = dt.date(2026, 6, 30)  # the demo's "today": nothing completed after it
NEXT_COMMITTEE = dt.date(2026, 10, 15)  # agenda of operations under review

TITLES: dict[str, list[str]] = {
    "1.1": [
        "Réseau de chaleur biomasse de {c}",
        "Rénovation énergétique des bâtiments publics de {c}",
        "Plateforme d'économie circulaire de {c}",
        "Centrale photovoltaïque sur les équipements de {c}",
    ],
    "1.2": [
        "Électrification des quais du port de {c}",
        "Verdissement des engins portuaires — {c}",
        "Station d'avitaillement en hydrogène du port de {c}",
    ],
    "1.3": [
        "Restauration écologique des zones humides de {c}",
        "Renaturation des berges à {c}",
        "Gestion durable de la ressource en eau — {c}",
    ],
    "2.1": [
        "Requalification du pôle d'échanges de {c}",
        "Parc urbain métropolitain de {c}",
        "Tiers-lieu d'innovation de {c}",
    ],
    "2.2": [
        "Revitalisation du centre-bourg de {c}",
        "Réhabilitation des halles de {c}",
        "Requalification de la place centrale de {c}",
    ],
    "2.3": [
        "Maison France services de {c}",
        "Maison de santé pluriprofessionnelle de {c}",
        "Extension de la médiathèque de {c}",
    ],
    "2.4": [
        "Reconversion d'une friche industrielle à {c}",
        "Prévention des inondations à {c}",
        "Rénovation des cités minières de {c}",
    ],
    "2.5": [
        "Renouvellement urbain du quartier prioritaire de {c}",
        "Équipement de proximité en quartier prioritaire — {c}",
        "Réaménagement des espaces publics du quartier de {c}",
    ],
    "2.6": [
        "Zone d'activités du canal Seine-Nord Europe — {c}",
        "Quai de transbordement à {c}",
        "Véloroute du canal à {c}",
    ],
    "2.7": [
        "Mission d'ingénierie territoriale — {c}",
        "Étude de programmation urbaine de {c}",
        "Appui à la planification intercommunale — {c}",
    ],
    "3.1": [
        "Soutien à la vie associative de {c}",
        "Épicerie solidaire de {c}",
        "Centre social de {c}",
    ],
    "3.2": [
        "Plateau technique de formation aux métiers de l'industrie — {c}",
        "Campus des métiers et des qualifications de {c}",
        "Centre de formation aux métiers du bâtiment de {c}",
    ],
    "3.3": [
        "Point information jeunesse de {c}",
        "Cité de l'orientation de {c}",
        "Bus de l'orientation et de l'apprentissage — {c}",
    ],
    "4.1": [
        "Rénovation du musée de {c}",
        "Restauration de l'église Saint-Martin de {c}",
        "Scène de musiques actuelles de {c}",
    ],
    "4.2": [
        "Extension du campus universitaire de {c}",
        "Plateforme de recherche en matériaux — {c}",
        "Rénovation de la bibliothèque universitaire de {c}",
        "Laboratoire commun d'innovation — {c}",
    ],
    "4.3": [
        "Modernisation du terminal transmanche de {c}",
        "Aménagements frontaliers post-Brexit — {c}",
        "Parc de stationnement poids lourds de {c}",
    ],
    "5.1": [
        "Aménagement routier — section de {c}",
        "Modernisation de la ligne ferroviaire desservant {c}",
        "Pôle d'échanges multimodal de {c}",
    ],
    "5.2": [
        "Voie verte et liaisons cyclables de {c}",
        "Aire de covoiturage de {c}",
        "Électrification de la flotte de bus — {c}",
    ],
    "5.3": [
        "Étude fret ferroviaire — {c}",
        "Étude de desserte portuaire de {c}",
        "Étude de modernisation de la voie d'eau — {c}",
    ],
    "6.1": ["Observatoire territorial — {c}", "Plateforme régionale de données — {c}"],
    "6.2": ["Animation et évaluation du contrat — {c}", "Conduite partagée de projets — {c}"],
}
# Objectives whose operations sit in particular territories (project territory codes).
OBJECTIVE_TERRITORIES = {
    "1.2": "littoral",
    "4.3": "littoral",
    "2.5": "qpv",
    "2.6": "canal-seine-nord-europe",
}
METROPOLES = ("200093201", "248000531")  # MEL, Amiens Métropole (EPCI SIREN)
STATE_PROGRAMMES = {
    "1": ["P380", "P113", "P181"],
    "2": ["P112", "P162", "P380"],
    "3": ["P103"],
    "4": ["P175", "P150", "P172", "P231"],
    "5": ["P203"],
    "6": ["P112"],
}
UNIVERSITIES = [
    "Université de Lille",
    "Université d'Artois",
    "Université du Littoral Côte d'Opale",
    "Université de Picardie Jules Verne",
    "Université polytechnique Hauts-de-France",
    "Université de technologie de Compiègne",
]
PUBLIC_BODIES = [
    "Centre hospitalier de {c}",
    "Office de tourisme de {c}",
    "Syndicat mixte des transports de {c}",
    "Établissement public foncier — antenne de {c}",
]
ASSOCIATIONS = [
    "Association Culture et loisirs de {c}",
    "Maison des jeunes et de la culture de {c}",
    "Association d'insertion de {c}",
    "Amis du patrimoine de {c}",
]
COMPANIES = ["SEM Énergies de {c}", "Société portuaire de {c}", "SPL Aménagement de {c}"]
RNA_PREFIX = {"02": "021", "59": "595", "60": "601", "62": "623", "80": "802"}


@dataclass
class DemoReport:
    scale: str
    seed: int
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        return f"échelle {self.scale}, graine {self.seed} : {parts}"


class DemoRefused(RuntimeError):
    """A service refused a generated row: the generator broke a register rule."""

    def __init__(self, what: str, refusal: bulk.Refusal) -> None:
        detail = refusal.denied or "; ".join(f"{f.field} : {f.message}" for f in refusal.findings)
        super().__init__(f"{what} refusé(e) ({refusal.stage}) : {detail}")
        self.refusal = refusal


@dataclass
class _Op:
    """One operation being generated (plain data, before any row exists)."""

    n: int
    objective: Objective
    communes: list[Commune]
    status: str
    owner_key: tuple[str, ...]
    size: float
    partners: list[Partner]
    title: str
    committee: int | None = None  # index in the committees list
    amounts: dict[int, int] = field(default_factory=dict)  # partner pk → euros
    markers: list[int] = field(default_factory=list)
    secondary: int | None = None


def _weighted(rng: random.Random, items: list[Any], cum: list[float]) -> Any:
    return items[min(len(items) - 1, _bisect(cum, rng.random() * cum[-1]))]


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _cumulate(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += max(w, 0.0)
        out.append(acc)
    return out


def _siret(siren: str, nic: int = 1) -> str:
    base = f"{siren}{nic:04d}"
    return base + luhn_check_digit(base)


def _siren(n: int, prefix: str) -> str:
    base = f"{prefix}{n:0{8 - len(prefix)}d}"
    return base + luhn_check_digit(base)


def maquette_matrix(contract: Contract) -> tuple[dict[tuple[int, int], Decimal], str]:
    """{(partner pk, objective pk): amount} of the maquette in force, or an illustrative split."""
    partners = {p.code: p for p in Partner.objects.filter(contract=contract)}
    objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
    try:
        amounts = maquette_selectors.maquette_amounts(  # type: ignore[attr-defined,unused-ignore]
            contract=contract, as_of=REFERENCE_DAY, group_by=("partner", "objective")
        )
    except (ImportError, AttributeError, TypeError):  # no maquette service yet
        amounts = {}
    matrix = {
        (partners[pc].pk, objectives[oc].pk): Decimal(v)
        for (pc, oc), v in amounts.items()
        if pc in partners and oc in objectives and v and v > 0
    }
    if matrix:
        return matrix, "maquette en vigueur"
    # No maquette loaded: each partner's stated total (or an even share of the rest of the
    # envelope) split by the axes' stated shares, evenly over each axis's objectives.

    stated = {
        s.partner_id: Decimal(s.amount)
        for s in PartnerStatedAmount.objects.filter(partner__contract=contract, axis__isnull=True)
    }
    plist = list(partners.values())
    rest = max(Decimal(contract.envelope) - sum(stated.values(), Decimal(0)), Decimal(0))
    missing = [p for p in plist if p.pk not in stated]
    for p in missing:
        stated[p.pk] = rest / len(missing) if missing else Decimal(0)
    axes = defaultdict(list)
    for o in objectives.values():
        axes[o.axis_id].append(o)

    shares = {
        a.pk: Decimal(a.stated_share if a.stated_share is not None else 2)
        for a in Axis.objects.filter(contract=contract)
    }
    total_share = sum(shares.values(), Decimal(0)) or Decimal(1)
    for p in plist:
        for axis_id, objs in axes.items():
            part = stated[p.pk] * shares.get(axis_id, Decimal(0)) / total_share / len(objs)
            for o in objs:
                if part > 0:
                    matrix[(p.pk, o.pk)] = part.quantize(Decimal("0.01"))
    return matrix, "répartition illustrative (aucune maquette chargée)"


PROGRESS: dict[str, str] = {
    S.IN_PROGRESS: "Travaux engagés.",
    S.COMPLETED: "Opération achevée, en attente du solde.",
    S.CLOSED: "Opération soldée.",
}
REASONS: dict[str, str] = {
    S.ABANDONED: "projet abandonné par le maître d'ouvrage (démonstration)",
    S.ADJOURNED: "dossier à compléter",
    S.REJECTED: "ne répond pas aux critères de l'objectif",
}
# Co-financers outside the contract, each with its kind (issue 12): the State's operators and
# Banque des Territoires are co-financing, shown apart from the signatories' credits.
OTHER_PUBLIC = [
    (FinancerKind.STATE_OPERATOR, "ADEME"),
    (FinancerKind.BANQUE_DES_TERRITOIRES, "Banque des Territoires"),
    (FinancerKind.STATE_OPERATOR, "Agence de l'eau Artois-Picardie"),
]
# One operation in VALORISED_EVERY also carries a valorised line of a signatory (credits
# outside the contracted envelope): chosen by number, not by the random stream, so that the
# rest of the demo is unchanged for a seed.
VALORISED_EVERY = 19


def _valorised(kind: str, label: str, objective: Objective, euros: int) -> bulk.LineDraft:
    return bulk.LineDraft(
        financer_kind=kind,
        amount=Decimal(euros),
        financer_label=label,
        objective=objective,
        contractualised=False,
        budget_nature="other",
    )


class Generator:
    def __init__(
        self,
        *,
        contract: Contract,
        operations: int,
        seed: int,
        scale: str,
        log: Callable[[str], None] = lambda s: None,
    ) -> None:
        self.contract = contract
        self.n_ops = operations
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(seed)
        self.log = log
        self.report = DemoReport(scale=scale, seed=seed)
        self.actor = Actor.system()

    # -- reference data ---------------------------------------------------------------------

    def _load(self) -> None:
        c = self.contract
        self.objectives = list(
            Objective.objects.filter(contract=c).select_related("axis").order_by("code")
        )
        self.partners = list(Partner.objects.filter(contract=c).order_by("position", "code"))
        self.partner_by_code = {p.code: p for p in self.partners}
        self.matrix, source = maquette_matrix(c)
        self.report.notes.append(f"montants calés sur : {source}")
        obj_total: dict[int, Decimal] = defaultdict(Decimal)
        for (_, o), v in self.matrix.items():
            obj_total[o] += v
        self.obj_weights = _cumulate(
            [float(obj_total.get(o.pk, 0)) or 1.0 for o in self.objectives]
        )
        self.communes = list(
            Commune.objects.filter(departement__region_id=c.region_id).order_by("code")
        )
        self.commune_cum = _cumulate([float(max(x.population, 50)) for x in self.communes])
        self.commune_by_code = {x.code: x for x in self.communes}
        self.by_epci: dict[str, list[Commune]] = defaultdict(list)
        for x in self.communes:
            if x.epci_id:
                self.by_epci[x.epci_id].append(x)
        self.epcis = {e.siren: e for e in Epci.objects.filter(siren__in=list(self.by_epci))}

        self.pools: dict[str, tuple[list[Commune], list[float]]] = {}
        for code, territory in (("metropoles", None), *OBJECTIVE_TERRITORIES.items()):
            if code == "metropoles":
                pool = [x for e in METROPOLES for x in self.by_epci.get(e, [])]
            else:
                codes = set(
                    ProjectTerritory.objects.filter(code=territory).values_list(
                        "communes__code", flat=True
                    )
                )
                pool = [x for x in self.communes if x.code in codes]
            if pool:
                pool.sort(key=lambda x: x.code)
                self.pools[code] = (pool, _cumulate([float(max(x.population, 50)) for x in pool]))
        self.markers = list(Marker.objects.filter(contract=c).order_by("code"))
        self.marker_objectives = {
            m.pk: set(m.objectives.values_list("pk", flat=True)) for m in self.markers
        }
        self.programmes = {p.code: p for p in BudgetProgramme.objects.all()}
        self.programme_by_pk = {p.pk: p for p in self.programmes.values()}
        self.objective_by_pk = {o.pk: o for o in self.objectives}
        self.marker_by_pk = {m.pk: m for m in self.markers}
        # The State's programme of each objective in the maquette (issue 12): a State line of
        # the demo carries it, so that execution by programme meets the contractualised amount.
        self.state_programme: dict[int, int] = dict(
            maquette_selectors.allocation_lines(contract=c)
            .filter(partner__kind="state", programme__isnull=False, amendment__isnull=True)
            .order_by("objective_id", "pk")
            .values_list("objective_id", "programme_id")
        )
        self.committee_dates = self._committee_dates()

    def _committee_dates(self) -> list[dt.date]:
        """Programming committees: quarterly from mid-2021 to mid-2026."""
        start = max(self.contract.start_year, 2021)
        dates = []
        for year in range(start, 2027):
            for month in (3, 6, 10, 12):
                day = dt.date(year, month, 15 if month != 12 else 10)
                if dt.date(start, 5, 1) <= day <= REFERENCE_DAY:
                    dates.append(day)
        return dates

    # -- pass 1: decide every operation -----------------------------------------------------

    def _pick_commune(self, objective: Objective) -> Commune:
        key = OBJECTIVE_TERRITORIES.get(objective.code)
        if objective.code == "2.1":
            key = "metropoles"
        if key and key in self.pools and self.rng.random() < 0.85:
            pool, cum = self.pools[key]
            return _weighted(self.rng, pool, cum)  # type: ignore[no-any-return]
        return _weighted(self.rng, self.communes, self.commune_cum)  # type: ignore[no-any-return]

    def _owner_key(self, objective: Objective, commune: Commune) -> tuple[str, ...]:
        r = self.rng.random()
        axis = objective.code.split(".")[0]
        if objective.code == "4.2":
            if r < 0.65:
                return ("universite", UNIVERSITIES[self.rng.randrange(len(UNIVERSITIES))])
            if r < 0.85:
                return ("etablissement_public", commune.code, "0")
        if axis == "3":
            if r < 0.5:
                return ("association", commune.code, str(self.rng.randrange(len(ASSOCIATIONS))))
            if r < 0.7:
                return ("commune", commune.code)
            if r < 0.85 and commune.epci_id:
                return ("epci", commune.epci_id)
            return ("etablissement_public", commune.code, str(self.rng.randrange(2)))
        if r < 0.45:
            return ("commune", commune.code)
        if r < 0.75 and commune.epci_id:
            return ("epci", commune.epci_id)
        if r < 0.85:
            return (
                "etablissement_public",
                commune.code,
                str(self.rng.randrange(len(PUBLIC_BODIES))),
            )
        if r < 0.95:
            return ("association", commune.code, str(self.rng.randrange(len(ASSOCIATIONS))))
        return ("entreprise", commune.code, str(self.rng.randrange(len(COMPANIES))))

    def _funders(self, objective: Objective, commune: Commune) -> list[Partner]:
        funds = [p for p in self.partners if (p.pk, objective.pk) in self.matrix]
        chosen = []
        for p in funds:
            if p.kind == "state":
                keep = self.rng.random() < 0.8
            elif p.kind == "region":
                keep = self.rng.random() < 0.85
            elif p.kind == "departement":
                keep = p.insee_code == commune.departement_id and self.rng.random() < 0.6
            elif p.kind == "epci":
                keep = bool(p.siren) and p.siren == commune.epci_id and self.rng.random() < 0.7
            else:
                keep = self.rng.random() < 0.3
            if keep:
                chosen.append(p)
        if not chosen and funds:
            chosen = [max(funds, key=lambda p: (self.matrix[(p.pk, objective.pk)], -p.pk))]
        return chosen

    def _status(self) -> str:
        r = self.rng.randrange(1000)
        acc = 0
        for status, w in STATUS_MIX:
            acc += w
            if r < acc:
                return status
        return S.DRAFT

    def _plan(self) -> list[_Op]:
        ops: list[_Op] = []
        for n in range(1, self.n_ops + 1):
            objective = _weighted(self.rng, self.objectives, self.obj_weights)
            commune = self._pick_commune(objective)
            communes = [commune]
            if self.rng.random() < 0.15 and commune.epci_id:
                neighbours = self.by_epci[commune.epci_id]
                for _ in range(self.rng.randint(1, 2)):
                    other = neighbours[self.rng.randrange(len(neighbours))]
                    if other not in communes:
                        communes.append(other)
            status = self._status()
            titles = TITLES.get(objective.code) or [f"Projet {objective.code} — {{c}}"]
            title = titles[self.rng.randrange(len(titles))].format(c=commune.name)
            op = _Op(
                n=n,
                objective=objective,
                communes=communes,
                status=status,
                owner_key=self._owner_key(objective, commune),
                size=self.rng.lognormvariate(0.0, 1.0),
                partners=self._funders(objective, commune),
                title=title,
            )
            if status in DECISION_YEARS:
                lo, hi = DECISION_YEARS[status]
                idx = [i for i, d in enumerate(self.committee_dates) if lo <= d.year <= hi]
                if idx:
                    op.committee = idx[self.rng.randrange(len(idx))]
            for m in self.markers:
                p = 0.7 if objective.pk in self.marker_objectives[m.pk] else 0.04
                if self.rng.random() < p:
                    op.markers.append(m.pk)
            if self.rng.random() < 0.1:
                same_axis = [
                    o for o in self.objectives if o.axis_id == objective.axis_id and o != objective
                ]
                if same_axis:
                    op.secondary = same_axis[self.rng.randrange(len(same_axis))].pk
            ops.append(op)
        return ops

    def _amounts(self, ops: list[_Op]) -> None:
        """Partner amounts: the programmed operations of each partner × objective share a
        target of 55–92 % of its maquette, in proportion to their size; the others ask for
        amounts of the same order."""
        weight: dict[tuple[int, int], float] = defaultdict(float)
        count: dict[tuple[int, int], int] = defaultdict(int)
        for op in ops:
            for p in op.partners:
                key = (p.pk, op.objective.pk)
                if op.status in PROGRAMMED_LIKE:
                    weight[key] += op.size
                    count[key] += 1
        fill = {key: self.rng.uniform(0.55, 0.92) for key in sorted(self.matrix)}
        for op in ops:
            for p in op.partners:
                key = (p.pk, op.objective.pk)
                target = float(self.matrix[key]) * fill[key]
                if op.status in PROGRAMMED_LIKE:
                    euros = math.floor(target * op.size / weight[key])
                else:
                    mean = target / max(count[key], 1)
                    euros = math.floor(mean * min(op.size, 4.0))
                op.amounts[p.pk] = max(euros, 0)

    # -- pass 2: owners ---------------------------------------------------------------------

    def _owners(self, ops: list[_Op]) -> dict[tuple[str, ...], ProjectOwner]:
        keys = sorted({op.owner_key for op in ops})
        rows: list[bulk.OwnerDraft] = []
        for counter, key in enumerate(keys, start=1):
            kind = key[0]
            if kind == "commune":
                c = self.commune_by_code[key[1]]
                rows.append(
                    bulk.OwnerDraft(
                        name=f"Commune de {c.name}",
                        siret=_siret(c.siren) if c.siren else _siret(_siren(counter, "29")),
                        legal_category=LegalCategory.COMMUNE,
                        commune=c,
                        provenance=ILLUSTRATIVE,
                    )
                )
            elif kind == "epci":
                e = self.epcis[key[1]]
                rows.append(
                    bulk.OwnerDraft(
                        name=e.name,
                        siret=_siret(e.siren),
                        legal_category=LegalCategory.EPCI,
                        provenance=ILLUSTRATIVE,
                    )
                )
            elif kind == "universite":
                rows.append(
                    bulk.OwnerDraft(
                        name=key[1],
                        siret=_siret(_siren(counter, "19")),
                        legal_category=LegalCategory.UNIVERSITY,
                        provenance=ILLUSTRATIVE,
                    )
                )
            elif kind == "association":
                c = self.commune_by_code[key[1]]
                prefix = RNA_PREFIX.get(c.departement_id, "599")
                rows.append(
                    bulk.OwnerDraft(
                        name=ASSOCIATIONS[int(key[2])].format(c=c.name),
                        rna=f"W{prefix}{counter:06d}",
                        legal_category=LegalCategory.ASSOCIATION,
                        commune=c,
                        provenance=ILLUSTRATIVE,
                    )
                )
            elif kind == "etablissement_public":
                c = self.commune_by_code[key[1]]
                rows.append(
                    bulk.OwnerDraft(
                        name=PUBLIC_BODIES[int(key[2])].format(c=c.name),
                        siret=_siret(_siren(counter, "18")),
                        legal_category=LegalCategory.PUBLIC_BODY,
                        commune=c,
                        provenance=ILLUSTRATIVE,
                    )
                )
            else:
                c = self.commune_by_code[key[1]]
                rows.append(
                    bulk.OwnerDraft(
                        name=COMPANIES[int(key[2])].format(c=c.name),
                        siret=_siret(_siren(counter, "8")),
                        legal_category=LegalCategory.COMPANY,
                        commune=c,
                        provenance=ILLUSTRATIVE,
                    )
                )
        # An identifier already held by an existing owner keeps that owner (no duplicate).
        existing: dict[str, ProjectOwner] = {
            o.siret: o
            for o in ProjectOwner.objects.filter(siret__in=[r.siret for r in rows if r.siret])
            if o.siret
        }
        existing.update(
            (o.rna, o)
            for o in ProjectOwner.objects.filter(rna__in=[r.rna for r in rows if r.rna])
            if o.rna
        )
        fresh = [r for r in rows if (r.siret or r.rna) not in existing]
        created = bulk.owners_create_many(actor=self.actor, drafts=fresh)
        written: dict[int, ProjectOwner] = {}
        for draft, result in zip(fresh, created, strict=True):
            if isinstance(result, bulk.Refusal):
                raise DemoRefused(f"maître d'ouvrage « {draft.name} »", result)
            written[id(draft)] = result
        out: dict[tuple[str, ...], ProjectOwner] = {}
        for key, row in zip(keys, rows, strict=True):
            found = existing.get(row.siret or row.rna or "")
            out[key] = found if found is not None else written[id(row)]
        self.report.counts["maîtres d'ouvrage"] = len(fresh)
        return out

    # -- pass 3: committees -----------------------------------------------------------------

    def _committees(self) -> tuple[list[bulk.CommitteeDraft], Committee]:
        """The programming committees that decide the operations (each written with the first
        operation it decides); the next programming committee (its agenda: the operations under
        review) and the yearly steering committees, written here."""
        places = ["Lille — préfecture de région", "Amiens — hôtel de Région"]
        drafts = [
            bulk.CommitteeDraft(
                kind=CommitteeKind.PROGRAMMING,
                date=d,
                place=places[i % 2],
                title=f"Comité de programmation n° {i + 1} (démonstration)",
                provenance=ILLUSTRATIVE,
            )
            for i, d in enumerate(self.committee_dates)
        ]
        upcoming = committee_create(
            actor=self.actor,
            contract=self.contract,
            kind=CommitteeKind.PROGRAMMING,
            date=NEXT_COMMITTEE,
            place=places[len(drafts) % 2],
            title="Prochain comité de programmation (démonstration)",
            provenance=ILLUSTRATIVE,
        )
        for y in range(2022, 2026):
            committee_create(
                actor=self.actor,
                contract=self.contract,
                kind=CommitteeKind.STEERING,
                date=dt.date(y, 11, 20),
                place=places[y % 2],
                title=f"Comité de pilotage {y} (démonstration)",
                minutes="Bilan annuel de la programmation et de l'exécution (illustratif).",
                provenance=ILLUSTRATIVE,
            )
        self.report.counts["comités"] = 1 + len(range(2022, 2026))
        return drafts, upcoming

    # -- pass 4: operations and what hangs on them, batch by batch --------------------------

    def _moment(self, day: dt.date, hour: int = 10) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, 0), tzinfo=PARIS)

    def _draft(
        self,
        op: _Op,
        owners: dict[tuple[str, ...], ProjectOwner],
        committees: list[bulk.CommitteeDraft],
        upcoming: Committee,
    ) -> bulk.OperationDraft:
        """The batch service's draft of one operation: its plan, its dated walk, its committee."""
        region = self.partner_by_code.get("region")
        lines, cost = self._plan_lines(op)
        start_date, end_date = self._dates(op)
        steps = self._transitions(op, start_date, end_date)
        # Drawn all the same (it dated the rows' creation, now the services' time): the draws
        # that follow stay those of the seed.
        self.rng.randint(3, 45)
        references = {}
        if region is not None and region.pk in op.amounts and op.committee is not None:
            year = self.committee_dates[op.committee].year
            references[region] = f"RHDF-{year}-{op.n:06d}"
        committee: Committee | bulk.CommitteeDraft | None = None
        if op.committee is not None:
            committee = committees[op.committee]
        elif op.status == S.UNDER_REVIEW:
            committee = upcoming  # on the next committee's agenda
        return bulk.OperationDraft(
            title=op.title,
            owner=owners[op.owner_key],
            objective=op.objective,
            code=f"OP-{op.n:06d}",
            description="Opération fictive générée pour la démonstration (données illustratives).",
            communes=op.communes,
            secondary_objectives=[self.objective_by_pk[op.secondary]] if op.secondary else [],
            markers=[self.marker_by_pk[m] for m in op.markers],
            external_references=references,
            start_date=start_date,
            end_date=end_date,
            cost_ht=cost,
            cost_ttc=(cost * Decimal("1.2")).quantize(Decimal("1")),
            cost_base=CostBase.HT,
            physical_progress=PROGRESS.get(op.status, ""),
            published=op.status in PROGRAMMED_LIKE,
            provenance=ILLUSTRATIVE,
            lines=lines,
            status=op.status,
            committee=committee,
            reason=REASONS.get(op.status, ""),
            reached_at=dict(steps),
        )

    def _write(
        self,
        ops: list[_Op],
        owners: dict[tuple[str, ...], ProjectOwner],
        committees: list[bulk.CommitteeDraft],
        upcoming: Committee,
    ) -> None:
        """The operations through `bulk.operations_create_many`, by chunks of `BATCH`."""
        for start in range(0, len(ops), BATCH):
            chunk = ops[start : start + BATCH]
            drafts = [self._draft(op, owners, committees, upcoming) for op in chunk]
            outcomes = bulk.operations_create_many(
                actor=self.actor, contract=self.contract, drafts=drafts
            )
            for draft, outcome in zip(drafts, outcomes, strict=True):
                if outcome.refusal is not None:
                    raise DemoRefused(f"opération {draft.code}", outcome.refusal)
            self.log(f"  {start + len(chunk)} / {len(ops)} opérations")
        written = Operation.objects.filter(contract=self.contract)
        self.report.counts["comités"] += sum(1 for c in committees if c.created is not None)
        self.report.counts["opérations"] = written.count()
        self.report.counts["lignes de financement"] = FinancingLine.objects.filter(
            operation__contract=self.contract
        ).count()
        self.report.counts["décisions"] = Decision.objects.filter(
            operation__contract=self.contract
        ).count()
        self.report.counts["transitions"] = OperationTransition.objects.filter(
            operation__contract=self.contract
        ).count()

    def _dates(self, op: _Op) -> tuple[dt.date, dt.date]:
        if op.committee is not None:
            decided = self.committee_dates[op.committee]
            start = decided + dt.timedelta(days=self.rng.randint(15, 200))
        else:
            start = dt.date(2026, 1, 1) + dt.timedelta(days=self.rng.randint(90, 600))
        end = start + dt.timedelta(days=self.rng.randint(300, 1500))
        if op.status in {S.COMPLETED, S.CLOSED} and end > REFERENCE_DAY:
            end = min(REFERENCE_DAY - dt.timedelta(days=self.rng.randint(30, 200)), end)
            end = max(end, start)
        return start, end

    def _plan_lines(self, op: _Op) -> tuple[list[bulk.LineDraft], Decimal]:
        """The co-financing lines, and the cost."""
        rng = self.rng
        year = self.committee_dates[op.committee].year if op.committee is not None else None
        axis = op.objective.code.split(".")[0]
        obj = op.objective
        lines: list[bulk.LineDraft] = []
        contract_total = 0
        for p in op.partners:
            euros = op.amounts.get(p.pk, 0)
            if euros <= 0:
                continue
            contract_total += euros
            programme = None
            ref = ""
            if p.kind == "state":
                codes = STATE_PROGRAMMES.get(axis, ["P112"])
                prog = self.programmes.get(codes[rng.randrange(len(codes))])
                programme = prog.pk if prog else None
                # the maquette's programme for the objective when it names one (drawn above
                # all the same: the draws that follow stay those of the seed)
                programme = self.state_programme.get(obj.pk, programme)
                if year:
                    ref = f"{2100000000 + op.n:010d}"
            lines.append(
                bulk.LineDraft(
                    financer_kind=FinancerKind.PARTNER,
                    amount=Decimal(euros),
                    partner=p,
                    objective=obj,
                    contractualised=True,
                    budget_nature=p.budget_nature,
                    programme=self.programme_by_pk.get(programme) if programme else None,
                    year=year,
                    external_ref=ref,
                )
            )
        others = 0
        if contract_total:
            eu = None
            if axis in {"1", "2", "4"} and rng.random() < 0.3:
                eu = "FEDER"
            elif axis == "3" and rng.random() < 0.4:
                eu = "FSE+"
            elif (
                axis == "1" and op.communes[0].departement_id in {"59", "62"} and rng.random() < 0.3
            ):
                eu = "FTJ"
            if eu:
                euros = math.floor(contract_total * rng.uniform(0.2, 0.6))
                others += euros
                lines.append(_valorised(FinancerKind.EU_FUND, eu, obj, euros))
            if rng.random() < 0.12:
                kind, label = OTHER_PUBLIC[rng.randrange(len(OTHER_PUBLIC))]
                euros = math.floor(contract_total * rng.uniform(0.05, 0.3))
                others += euros
                lines.append(_valorised(kind, label, obj, euros))
            signatory = next((p for p in op.partners if op.amounts.get(p.pk, 0) > 0), None)
            if op.n % VALORISED_EVERY == 0 and signatory is not None:
                euros = max(1, math.floor(contract_total * 0.1))
                others += euros
                lines.append(
                    bulk.LineDraft(
                        financer_kind=FinancerKind.PARTNER,
                        amount=Decimal(euros),
                        partner=signatory,
                        objective=obj,
                        contractualised=False,
                        budget_nature=signatory.budget_nature,
                        year=year,
                    )
                )
        public = contract_total + others
        share = rng.uniform(0.2, 0.4)
        own = math.ceil(public * share / (1 - share)) if public else rng.randint(20_000, 200_000)
        lines.append(_valorised(FinancerKind.OWNER, "", obj, own))
        total = public + own
        cost = Decimal(total)
        if rng.random() < 0.05:  # a few plans that do not balance, to show the warning
            cost = Decimal(math.floor(total * rng.uniform(1.02, 1.15)))
        return lines, cost

    def _transitions(
        self, op: _Op, start_date: dt.date, end_date: dt.date
    ) -> list[tuple[str, dt.datetime]]:
        """(status, when it was reached) along the lifecycle's walk to the operation's status
        (a committee's decision at noon, other steps in the morning)."""
        path = PATHS[op.status]
        if not path:
            return []
        if op.committee is not None:
            pivot = self.committee_dates[op.committee]
        else:  # not decided yet: deposited recently
            pivot = REFERENCE_DAY - dt.timedelta(days=self.rng.randint(0, 150))
        days: dict[str, dt.date] = {
            S.SUBMITTED: pivot - dt.timedelta(days=self.rng.randint(70, 160)),
            S.UNDER_REVIEW: pivot - dt.timedelta(days=self.rng.randint(20, 60)),
            S.PROGRAMMED: pivot,
            S.ADJOURNED: pivot,
            S.REJECTED: pivot,
            S.ABANDONED: pivot - dt.timedelta(days=self.rng.randint(0, 60)),
            S.IN_PROGRESS: start_date,
            S.COMPLETED: end_date,
            S.CLOSED: min(end_date + dt.timedelta(days=90), REFERENCE_DAY),
        }
        out: list[tuple[str, dt.datetime]] = []
        for step in path:
            with_decision = step in {S.PROGRAMMED, S.ADJOURNED, S.REJECTED}
            out.append((step, self._moment(days[step], 12 if with_decision else 9)))
        return out

    # -- run --------------------------------------------------------------------------------

    def run(self) -> DemoReport:
        started = timezone.now()
        if connection.vendor == "sqlite":
            # A large page cache for this connection: the indexes of the big tables stay in
            # memory during the inserts (the default 2 MB makes them read back from disk).
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -524288")
        self._load()
        self.log("préparation des opérations…")
        ops = self._plan()
        self._amounts(ops)
        with collector_paused(), transaction.atomic():
            owners = self._owners(ops)
            committees, upcoming = self._committees()
            self._write(ops, owners, committees, upcoming)
            audit_record(
                actor=Actor.cli(),
                action=AuditAction.DEMO_GENERATED,
                subject=self.contract,
                changes={
                    "échelle": {"avant": None, "après": self.scale},
                    "graine": {"avant": None, "après": self.seed},
                    **{k: {"avant": None, "après": v} for k, v in self.report.counts.items()},
                },
                message="; ".join(self.report.notes),
                contract_id=self.contract.pk,
            )
        self.report.seconds = (timezone.now() - started).total_seconds()
        return self.report


def demo_generate(
    *,
    contract: Contract,
    scale: str = "S",
    seed: int = 2021,
    operations: int | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> DemoReport:
    """Generate the illustrative register of `contract` (see the module's docstring)."""
    if scale not in SCALES:
        raise ValueError(f"échelle inconnue « {scale} » (S, M ou L)")
    gen = Generator(
        contract=contract,
        operations=operations or SCALES[scale],
        seed=seed,
        scale=scale,
        log=log,
    )
    return gen.run()
