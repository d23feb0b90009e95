"""Template filters of the maquette pages: exact amounts for data attributes, signed M€."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from cper import money

register = template.Library()


@register.filter
def plain(value: Any) -> str:
    """The exact amount as a decimal string (`693000000.00`), for data attributes and exports."""
    if value in (None, ""):
        return ""
    return f"{Decimal(str(value)):.2f}"


@register.filter
def signed_meur(value: Any) -> str:
    """`+693,00 M€` / `−6,00 M€` / `0,00 M€`."""
    if value in (None, ""):
        return "—"
    dec = Decimal(str(value))
    text = money.format_meur(abs(dec))
    return f"+{text}" if dec > 0 else (f"−{text}" if dec < 0 else text)


@register.filter
def amendment_links(numbers: Any) -> str:
    """`n°1, n°2`."""
    return ", ".join(f"n°{n}" for n in numbers or [])
