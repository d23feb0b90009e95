"""Money as exact decimal euros: parsing French and plain notations, formatting the French way.

No Django here: these are plain functions shared by models, forms, imports, exports and the API.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_DIGITS = 18  # up to 9 999 999 999 999 999,99 €: enough for a national consolidation
DECIMAL_PLACES = 2

_SPACES = re.compile(r"[\s\u00a0\u202f']")


class MoneyError(ValueError):
    """A value that is not an amount of euros; the message is French and shown to users."""


def to_money(value: object) -> Decimal:
    """Return `value` as a Decimal rounded to the cent, refusing floats' approximations.

    Accepts Decimal, int, and strings in French (`1 234 567,89 €`) or plain (`1234567.89`)
    notation. Floats are accepted only when they carry no more than cents once printed
    (spreadsheet cells), through their shortest repr.
    """
    if isinstance(value, bool):
        raise MoneyError("montant attendu, booléen reçu")
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, float):
        dec = Decimal(repr(value))
    elif isinstance(value, str):
        dec = parse_amount(value)
    else:
        raise MoneyError(f"montant attendu, reçu {type(value).__name__}")
    if not dec.is_finite():
        raise MoneyError("montant non fini")
    quantized = dec.quantize(CENT, rounding=ROUND_HALF_UP)
    if len(quantized.as_tuple().digits) > MAX_DIGITS:
        raise MoneyError("montant trop grand")
    return quantized


def parse_amount(text: str) -> Decimal:
    """Parse `1 234 567,89 €`, `1234567.89`, `-12,5`, `1.234.567,89` into a Decimal."""
    raw = text.strip()
    if not raw:
        raise MoneyError("montant vide")
    cleaned = _SPACES.sub("", raw).replace("€", "").replace("EUR", "").replace("eur", "")
    negative = False
    if cleaned.startswith("(") and cleaned.endswith(")"):
        negative, cleaned = True, cleaned[1:-1]
    if "," in cleaned and "." in cleaned:
        # The last separator is the decimal one: 1.234.567,89 or 1,234,567.89
        if cleaned.rfind(",") > cleaned.rfind("."):
            cleaned = cleaned.replace(".", "").replace(",", ".")
        else:
            cleaned = cleaned.replace(",", "")
    elif "," in cleaned:
        if cleaned.count(",") > 1:
            raise MoneyError(f"« {raw} » n'est pas un montant")
        cleaned = cleaned.replace(",", ".")
    elif cleaned.count(".") > 1:
        cleaned = cleaned.replace(".", "")
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", cleaned):
        raise MoneyError(f"« {raw} » n'est pas un montant")
    try:
        dec = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the regex
        raise MoneyError(f"« {raw} » n'est pas un montant") from exc
    return -dec if negative else dec


def _group(int_part: str, sep: str) -> str:
    out: list[str] = []
    while len(int_part) > 3:
        out.insert(0, int_part[-3:])
        int_part = int_part[:-3]
    out.insert(0, int_part)
    return sep.join(out)


def format_number(value: Decimal | int | float | None, places: int = 2) -> str:
    """French number: `1 234 567,89` with narrow no-break spaces between thousands."""
    if value is None:
        return "—"
    dec = Decimal(str(value)) if not isinstance(value, Decimal) else value
    q = (
        dec.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if places
        else dec.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    )
    sign = "-" if q < 0 else ""
    text = f"{abs(q):f}"
    int_part, _, frac = text.partition(".")
    grouped = _group(int_part, "\u202f")
    return f"{sign}{grouped},{frac}" if places else f"{sign}{grouped}"


def format_eur(value: Decimal | int | None, places: int = 2) -> str:
    """`1 234 567,89 €`."""
    if value is None:
        return "—"
    return f"{format_number(value, places)}\u00a0€"


def format_meur(value: Decimal | int | None) -> str:
    """Millions of euros with two decimals: `994,26 M€`."""
    if value is None:
        return "—"
    return f"{format_number(Decimal(value) / Decimal(1_000_000), 2)}\u00a0M€"


def format_percent(value: Decimal | float | None, places: int = 1) -> str:
    """`45,2 %` from a ratio expressed in percent (45.2), not a fraction."""
    if value is None:
        return "—"
    return f"{format_number(Decimal(str(value)), places)}\u00a0%"


def rate(part: Decimal, whole: Decimal) -> Decimal | None:
    """Part of whole in percent, to 0.01 %, or None when the whole is zero."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP)
