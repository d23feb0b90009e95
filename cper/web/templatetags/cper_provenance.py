"""Template tags that say where a headline figure comes from: the envelope in force with its
composition (`envelope_at`, the one used by every page), and whether the maquette's or the
register's figures derive from illustrative data, so that pages mark them where they show them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import template

from cper.contracts.models import Contract
from cper.maquette import selectors as maquette_selectors
from cper.operations import selectors as operations_selectors

register = template.Library()


def _point(point: Any) -> dict[str, Any]:
    """A page's point in time: a version number, a date, or nothing (today)."""
    if isinstance(point, int) and not isinstance(point, bool):
        return {"version": point}
    if isinstance(point, dt.date):
        return {"as_of": point}
    return {}


@register.simple_tag
def envelope_at(contract: Contract, point: Any = None) -> maquette_selectors.Envelope:
    """The envelope in force at `point` (a date, a version, or today) with its composition."""
    return maquette_selectors.envelope(contract=contract, **_point(point))


@register.simple_tag
def maquette_illustrative(contract: Contract, point: Any = None, filters: Any = None) -> Decimal:
    """The part of the maquette in force at `point` (within the page's `filters`: partner,
    axis, objective) made of illustrative lines."""
    return maquette_selectors.maquette_illustrative_amount(
        contract=contract, filters=filters or None, **_point(point)
    )


@register.simple_tag
def maquette_illustrative_partners(contract: Contract, point: Any = None) -> dict[str, Decimal]:
    """{partner code: illustrative part of its maquette in force at `point`}."""
    return maquette_selectors.maquette_illustrative_by_partner(contract=contract, **_point(point))


@register.simple_tag
def register_illustrative(contract: Contract) -> bool:
    """Whether the register's figures (programmed, committed, paid) derive from illustrative
    operations."""
    return operations_selectors.illustrative_operations_exist(contract=contract)
