"""The contract data file's schema (pydantic): types, ranges and cross-references.

Validation errors carry a path (`axes[2].objectives[0].code`) that the loader turns into a line
number of the YAML file.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cper.contracts.models import (
    ActionKind,
    BudgetNature,
    ContractStatus,
    OverProgrammingPolicy,
    PartnerKind,
    ProgrammingMode,
)

Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2, allow_inf_nan=False)]
Share = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
ProvenanceStr = Literal["official", "illustrative"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SourcedAmount(Strict):
    amount: Amount
    provenance: ProvenanceStr = "illustrative"
    source: str = ""

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        # YAML floats (1.1e9) would lose cents: amounts are written as quoted decimal strings.
        if isinstance(value, float):
            raise ValueError('montant à écrire entre guillemets (ex. "994260000.00")')
        return value


class AxisAmount(SourcedAmount):
    axis: int


class OrganisationIn(Strict):
    code: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    siren: str = ""


class PartnerIn(Strict):
    code: str = Field(pattern=r"^[a-z0-9-]+$", max_length=30)
    kind: PartnerKind
    name: str
    short_name: str = ""
    insee_code: str = ""
    siren: str = Field(default="", pattern=r"^(\d{9})?$")
    siret: str = Field(default="", pattern=r"^(\d{14})?$")
    budget_nature: BudgetNature = BudgetNature.AP_CP
    signatory: bool = True
    affectation_required: bool = False  # AP affectée before any engagement (localchain)
    caducity_months: int | None = Field(default=None, ge=1, le=240)
    organisation: OrganisationIn | None = None
    stated_total: SourcedAmount | None = None
    stated_by_axis: list[AxisAmount] = []


class ShareIn(Strict):
    value: Share | None
    note: str = ""
    source: str = ""

    @field_validator("value", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        return (
            str(value) if isinstance(value, float | int) and not isinstance(value, bool) else value
        )


class ActionIn(Strict):
    """The third level of the structure (issue 12): a sub-objective or a type of action."""

    code: str = Field(pattern=r"^\d+\.\d+[a-z]?\.\d+[a-z]?$")
    title: str = Field(min_length=1, max_length=400)
    kind: ActionKind = ActionKind.ENVELOPE
    provenance: ProvenanceStr = "official"


class ObjectiveIn(Strict):
    code: str = Field(pattern=r"^\d+\.\d+[a-z]?$")
    title: str = Field(min_length=1, max_length=400)
    actions: list[ActionIn] = []

    @model_validator(mode="after")
    def _actions_belong_to_objective(self) -> ObjectiveIn:
        codes = [a.code for a in self.actions]
        for i, action in enumerate(self.actions):
            if not action.code.startswith(f"{self.code}."):
                raise ValueError(
                    f"actions[{i}].code « {action.code} » n'appartient pas à l'objectif {self.code}"
                )
            if codes.count(action.code) > 1:
                raise ValueError(f"actions[{i}].code « {action.code} » en double")
        return self


class AxisIn(Strict):
    number: int = Field(ge=1, le=99)
    title: str = Field(min_length=1, max_length=300)
    share: ShareIn | None = None
    volet: str | None = None  # issue 12 (volets): a volet's code; default the first volet
    objectives: list[ObjectiveIn]

    @model_validator(mode="after")
    def _codes_belong_to_axis(self) -> AxisIn:
        for i, obj in enumerate(self.objectives):
            if obj.code.split(".")[0] != str(self.number):
                raise ValueError(
                    f"objectives[{i}].code « {obj.code} » n'appartient pas à l'axe {self.number}"
                )
        return self


class PriorityIn(Strict):
    number: int = Field(ge=1)
    title: str
    axes: list[int]


class TerritoryIn(Strict):
    code: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    description: str = ""
    source: str = ""
    epcis: list[str] = []
    communes: list[str] = []


class ContributionIn(Strict):
    axis: int
    statement: str
    themes: list[str] = []
    territories: list[str] = []


class MarkerIn(Strict):
    code: str = Field(pattern=r"^[a-z0-9-]+$")
    label: str
    description: str = ""
    objectives: list[str] = []
    contributions: list[ContributionIn] = []


class ProgrammeIn(Strict):
    code: str = Field(pattern=r"^P\d{3}$")
    label: str
    ministry: str = ""
    valid_from: int | None = None
    valid_to: int | None = None


class PeriodIn(Strict):
    start: int = Field(ge=2000, le=2100)
    end: int = Field(ge=2000, le=2100)


class VoletIn(Strict):
    """Issue 12: a volet of the contract, with its own period and envelope; `amendment` is the
    number of the amendment that brought it (none: the contract as signed)."""

    code: str = Field(pattern=r"^[a-z0-9-]+$", max_length=50)
    title: str = Field(min_length=1, max_length=300)
    period: PeriodIn
    envelope: SourcedAmount | None = None
    amendment: int | None = Field(default=None, ge=1)


class SignatureIn(Strict):
    date: dt.date | None = None
    place: str = ""
    source: str = ""


class SettingsIn(Strict):
    share_tolerance: Annotated[Decimal, Field(ge=0, le=100)] = Decimal("0.5")
    over_programming: OverProgrammingPolicy = OverProgrammingPolicy.WARN
    programming_mode: ProgrammingMode = ProgrammingMode.COMMITTEE  # issue 12
    execution_tolerance: Amount = Decimal("0")


class NoteIn(Strict):
    key: str
    text: str


class ContractFile(Strict):
    slug: str = Field(pattern=r"^[a-z0-9-]+$", max_length=80)
    title: str
    region: str
    period: PeriodIn
    status: ContractStatus = ContractStatus.IN_FORCE
    description: str = ""
    envelope: SourcedAmount
    signature: SignatureIn = SignatureIn()
    settings: SettingsIn = SettingsIn()
    notes: list[NoteIn] = []
    partners: list[PartnerIn]
    volets: list[VoletIn] = []  # issue 12; none: one volet spanning the contract
    axes: list[AxisIn]
    priorities: list[PriorityIn] = []
    territories: list[TerritoryIn] = []
    markers: list[MarkerIn] = []
    programmes: list[ProgrammeIn] = []
    # Sections owned by other apps (the maquette and its amendments) are validated there.
    maquette: dict | None = None  # type: ignore[type-arg]
    amendments: list | None = None  # type: ignore[type-arg]
    valorised: list | None = None  # type: ignore[type-arg]  # valorised credits (maquette app)

    @model_validator(mode="after")
    def _cross_references(self) -> ContractFile:
        errors: list[str] = []
        if self.period.end < self.period.start:
            errors.append("period.end : la dernière année précède la première")

        def dupes(label: str, values: list[str]) -> None:
            seen: set[str] = set()
            for i, v in enumerate(values):
                if v in seen:
                    errors.append(f"{label}[{i}] : code en double « {v} »")
                seen.add(v)

        dupes("partners", [p.code for p in self.partners])
        # -- issue 12: volets --
        dupes("volets", [v.code for v in self.volets])
        volet_codes = {v.code for v in self.volets}
        for vi, v in enumerate(self.volets):
            if v.period.end < v.period.start:
                errors.append(f"volets[{vi}].period.end : la dernière année précède la première")
            if v.period.start < self.period.start or v.period.end > self.period.end:
                errors.append(
                    f"volets[{vi}].period : {v.period.start}-{v.period.end} sort de la période "
                    f"du contrat ({self.period.start}-{self.period.end})"
                )
        for ai, a in enumerate(self.axes):
            if a.volet is not None and a.volet not in volet_codes:
                errors.append(f"axes[{ai}].volet : volet inconnu « {a.volet} »")
        # -- end volets --
        dupes("axes", [str(a.number) for a in self.axes])
        all_codes: list[str] = []
        for a in self.axes:
            all_codes += [o.code for o in a.objectives]
        seen_codes: set[str] = set()
        for ai, a in enumerate(self.axes):
            for oi, o in enumerate(a.objectives):
                if o.code in seen_codes:
                    errors.append(f"axes[{ai}].objectives[{oi}].code : code en double « {o.code} »")
                seen_codes.add(o.code)
        dupes("priorities", [str(p.number) for p in self.priorities])
        dupes("territories", [t.code for t in self.territories])
        dupes("markers", [m.code for m in self.markers])
        dupes("programmes", [p.code for p in self.programmes])
        axis_numbers = {a.number for a in self.axes}
        for pi, p in enumerate(self.partners):
            for ai, sa in enumerate(p.stated_by_axis):
                if sa.axis not in axis_numbers:
                    errors.append(
                        f"partners[{pi}].stated_by_axis[{ai}].axis : axe inconnu {sa.axis}"
                    )
        for pi, pr in enumerate(self.priorities):
            for ai, n in enumerate(pr.axes):
                if n not in axis_numbers:
                    errors.append(f"priorities[{pi}].axes[{ai}] : axe inconnu {n}")
        territory_codes = {t.code for t in self.territories}
        for mi, m in enumerate(self.markers):
            for oi, code in enumerate(m.objectives):
                if code not in seen_codes:
                    errors.append(f"markers[{mi}].objectives[{oi}] : objectif inconnu « {code} »")
            for ci, c in enumerate(m.contributions):
                if c.axis not in axis_numbers:
                    errors.append(f"markers[{mi}].contributions[{ci}].axis : axe inconnu {c.axis}")
                for ti, t in enumerate(c.territories):
                    if t not in territory_codes:
                        errors.append(
                            f"markers[{mi}].contributions[{ci}].territories[{ti}] : "
                            f"territoire inconnu « {t} »"
                        )
        if errors:
            raise ValueError(" ; ".join(errors))
        return self
