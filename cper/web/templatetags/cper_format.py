"""Template filters for French number formats: 1 234 567,89 €, 45,2 %, 994,26 M€."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from cper import money

register = template.Library()


@register.filter
def eur(value: Any, places: int = 2) -> str:
    return money.format_eur(None if value in (None, "") else Decimal(str(value)), int(places))


@register.filter
def eur0(value: Any) -> str:
    return eur(value, 0)


@register.filter
def meur(value: Any) -> str:
    return money.format_meur(None if value in (None, "") else Decimal(str(value)))


@register.filter
def pct(value: Any, places: int = 1) -> str:
    return money.format_percent(None if value in (None, "") else Decimal(str(value)), int(places))


@register.filter
def num(value: Any, places: int = 0) -> str:
    return money.format_number(None if value in (None, "") else Decimal(str(value)), int(places))
