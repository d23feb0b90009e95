"""Shapes of the API's input and output, and the types every router shares.

Money is a decimal string with two decimals (`"1234567.89"`), never a JSON number; dates are
ISO 8601 (`2024-03-31`); every list is `{"count": total, "results": […]}` (plus `next_cursor`
where the list is paginated; there `count` is given on the first page only, null after).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from cper.money import MAX_DIGITS, MoneyError, to_money
from cper.params import DATE_MAX, DATE_MIN, date_bounds_problem

MONEY_PATTERN = r"^-?[0-9]{1,16}\.[0-9]{2}$"
MONEY_IN_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"


def _money_out(value: Decimal) -> str:
    return f"{value:.2f}"


Money = Annotated[
    Decimal,
    PlainSerializer(_money_out, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": "Montant en euros, chaîne décimale à deux décimales.",
            "examples": ["1234567.89"],
        }
    ),
]


def _money_in(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('Montant attendu sous forme de chaîne décimale, par exemple "1234.56".')
    if not value or len(value) > MAX_DIGITS + 2:
        raise ValueError("Montant invalide.")
    if not re.fullmatch(MONEY_IN_PATTERN, value):
        raise ValueError("Montant invalide : chiffres, point décimal, deux décimales au plus.")
    try:
        return to_money(value)
    except MoneyError as exc:
        raise ValueError(f"Montant invalide : {exc}.") from exc


# A positive or zero amount sent by a client: a decimal string ("1234.5" or "1234.56").
MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_money_in),
    PlainSerializer(_money_out, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_IN_PATTERN,
            "description": "Montant en euros, chaîne décimale (deux décimales au plus).",
            "examples": ["15000.00"],
        }
    ),
]


def _no_control(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("Caractère de contrôle interdit.")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("Caractère invalide.")
    return value


# What `_no_control` accepts, told to clients (and to Schemathesis) in the OpenAPI document
# (lone surrogates, which no regular expression engine of the validators can name, aside).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"


# A string sent by a client, without control characters; bound it where used:
# `title: Text = Field(..., min_length=1, max_length=400)`.
Text = Annotated[
    str, Field(json_schema_extra={"pattern": TEXT_PATTERN}), AfterValidator(_no_control)
]


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return value
    raise ValueError("Date attendue au format AAAA-MM-JJ.")


# The years the bounds allow, told to clients (and to Schemathesis) in the OpenAPI document.
DATE_PATTERN = r"^(19[0-9]{2}|20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}$"


def _bounded_date(value: dt.date) -> dt.date:
    # The bounds of the pages (`cper.params`): year 1 or 9999 breaks date arithmetic.
    problem = date_bounds_problem(value)
    if problem:
        raise ValueError(problem[:1].upper() + problem[1:] + ".")
    return value


# A date sent by a client: ISO 8601 only (no timestamps, no other notation), between
# `DATE_MIN` and `DATE_MAX` (1900-01-01 – 2100-12-31).
Date = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    AfterValidator(_bounded_date),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": DATE_PATTERN,
            "description": f"Date AAAA-MM-JJ, du {DATE_MIN.isoformat()} au {DATE_MAX.isoformat()}.",
        }
    ),
]


class In(BaseModel):
    """A request body: a JSON object with the documented fields only."""

    model_config = ConfigDict(extra="forbid")


SLUG_PATTERN = r"^[-a-zA-Z0-9_]{1,80}$"
CODE_PATTERN = r"^[-a-zA-Z0-9_.]{1,40}$"
# A code of the contract (partner "dep-59", objective "2.5", département "2A", marker…).
Code = Annotated[str, Field(pattern=CODE_PATTERN)]


class ListOut(Schema):
    count: int = Field(description="Nombre total d'éléments de la liste (toutes pages).")


class CursorListOut(Schema):
    count: int | None = Field(
        description="Nombre total d'éléments de la liste (toutes pages), donné sur la première "
        "page seulement ; null sur les pages suivantes (lues avec `cursor`)."
    )
    next_cursor: str | None = Field(
        description="Curseur de la page suivante (paramètre `cursor`), null à la dernière page."
    )


class CodeName(Schema):
    code: str
    name: str


# --- contracts -----------------------------------------------------------------------------


class Period(Schema):
    start: int
    end: int


class EnvelopeOut(Schema):
    amount: Money | None
    provenance: str
    source: str


class SignatureOut(Schema):
    date: dt.date | None
    place: str


class ContractSummaryOut(Schema):
    slug: str
    title: str
    region: CodeName
    period: Period
    status: str
    envelope: Money


class ContractListOut(ListOut):
    results: list[ContractSummaryOut]


class StatedAmountOut(Schema):
    axis: int | None
    amount: Money | None
    provenance: str
    source: str


class PartnerOut(Schema):
    code: str
    kind: str
    name: str
    short_name: str
    insee_code: str | None
    siren: str | None
    siret: str | None
    budget_nature: str
    stated_amounts: list[StatedAmountOut]


class PartnerListOut(ListOut):
    results: list[PartnerOut]


class ObjectiveBrief(Schema):
    code: str
    title: str


class AxisOut(Schema):
    number: int
    title: str
    stated_share: str | None = Field(description="Part annoncée des crédits, en %.")
    share_note: str
    volet: str | None = Field(None, description="Code du volet de l'axe.")  # issue 12
    objectives: list[ObjectiveBrief]


class AxisListOut(ListOut):
    results: list[AxisOut]


class ObjectiveOut(ObjectiveBrief):
    axis: int


class ObjectiveListOut(ListOut):
    results: list[ObjectiveOut]


class PriorityOut(Schema):
    number: int
    title: str
    axes: list[int]


class MarkerContributionOut(Schema):
    axis: int
    statement: str
    territories: list[str]


class MarkerOut(Schema):
    code: str
    label: str
    objectives: list[str]
    contributions: list[MarkerContributionOut]


class TerritoryListOut(ListOut):
    results: list[CodeName]


class VoletOut(Schema):
    """Issue 12: a volet of the contract, with its own period and envelope."""

    code: str
    title: str
    period: Period
    envelope: EnvelopeOut
    amendment: int | None = Field(description="Numéro de l'avenant qui l'a créé.")
    axes: list[int]


class ContractOut(Schema):
    slug: str
    title: str
    region: CodeName
    period: Period
    status: str
    envelope: EnvelopeOut
    signature: SignatureOut
    partners: list[PartnerOut]
    axes: list[AxisOut]
    volets: list[VoletOut] = []  # issue 12
    stated_share_total: str
    priorities: list[PriorityOut]
    markers: list[MarkerOut]
    territories: list[CodeName]
