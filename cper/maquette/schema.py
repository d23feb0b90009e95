"""Schema of the `maquette:` and `amendments:` sections of a contract file (pydantic).

A compact, reviewable form: per partner, amounts by axis (spread over the axis's objectives by
weights), by objective, or by mode (each mode counting against one objective), and a year
profile spreading each amount over the years; explicit lines for anything finer. Amounts are
quoted decimal strings ("206100000.00"); floats are refused (they would lose cents).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cper.contracts.models import BudgetNature
from cper.contracts.schema import ProvenanceStr, SourcedAmount
from cper.maquette.models import AmendmentKind
from cper.money import MoneyError, to_money


def _money(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('montant à écrire entre guillemets (ex. "994260000.00")')
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return to_money(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from exc
    return value


def _weight(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


Money = Annotated[Decimal, BeforeValidator(_money)]
PositiveMoney = Annotated[Decimal, BeforeValidator(_money), Field(ge=0)]
Weight = Annotated[Decimal, BeforeValidator(_weight), Field(ge=0, allow_inf_nan=False)]
Programme = Annotated[str, Field(pattern=r"^P\d{3}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BlockIn(Strict):
    """One partner's money, split by axis, objective or mode, then over the years."""

    partner: str
    budget_nature: BudgetNature | None = None  # default: the partner's
    programme: Programme | None = None  # LOLF programme of every line…
    programmes: dict[str, Programme] = {}  # …unless given per objective code
    total: SourcedAmount | None = None  # when given, must equal the sum of the parts
    by_axis: dict[int, PositiveMoney] = {}
    by_objective: dict[str, PositiveMoney] = {}
    by_mode: dict[str, PositiveMoney] = {}
    objective_weights: dict[str, Weight] | None = None  # default: the section's
    years: dict[int, Weight] | None = None  # default: the section's
    provenance: ProvenanceStr = "illustrative"  # of the split (the total says its own)
    source: str = ""


class LineIn(Strict):
    """One explicit line: partner × objective × year (optional) and an amount."""

    partner: str
    objective: str
    year: int | None = None
    amount: Money
    note: str = Field(default="", max_length=300)
    budget_nature: BudgetNature | None = None
    programme: Programme | None = None
    provenance: ProvenanceStr = "illustrative"
    source: str = ""


class MaquetteIn(Strict):
    """Version 0: the initial maquette."""

    rounding: Annotated[Decimal, BeforeValidator(_money), Field(gt=0)] = Decimal("1")
    years: dict[int, Weight] | None = None  # year profile; none: lines not split by year
    objective_weights: dict[str, Weight] = {}
    partners: list[BlockIn] = []
    lines: list[LineIn] = []


class ModeIn(Strict):
    code: str = Field(pattern=r"^[a-z0-9-]+$")
    label: str = ""
    objective: str
    total: SourcedAmount | None = None  # when given, must equal the partners' sum for the mode


class AmendmentIn(Strict):
    number: int = Field(ge=1, le=999)
    title: str = Field(min_length=1, max_length=300)
    kind: AmendmentKind
    adopted_on: dt.date | None = None
    signed_on: dt.date | None = None
    effective_on: dt.date
    decision_ref: str = Field(default="", max_length=300)
    rationale: str = ""
    provenance: ProvenanceStr = "illustrative"
    source: str = Field(default="", max_length=500)
    total: SourcedAmount | None = None  # when given, must equal the sum of the changes
    rounding: Annotated[Decimal, BeforeValidator(_money), Field(gt=0)] = Decimal("1")
    years: dict[int, Weight] | None = None
    objective_weights: dict[str, Weight] = {}
    modes: list[ModeIn] = []
    partners: list[BlockIn] = []
    changes: list[LineIn] = []


# -- issue 12: valorised credits --


class ValorisedIn(Strict):
    """One line of the file's `valorised:` section: a signatory's credits valorised in the
    contract (outside the contracted envelope), partner × objective × year (optional)."""

    partner: str
    objective: str
    year: int | None = None
    amount: PositiveMoney
    note: str = Field(default="", max_length=300)
    provenance: ProvenanceStr = "illustrative"
    source: str = ""
