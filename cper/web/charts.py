"""Charts drawn on the server as inline SVG: no script, no network, readable by the DSFR
palette, and always paired with a table of the same figures in the template."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cper.money import format_number


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    display: str
    y: int
    width: float


def hbar(
    items: list[tuple[str, Decimal | None]], *, unit: str = "%", width: int = 640, row: int = 34
) -> dict[str, object]:
    """A horizontal bar chart: one bar per (label, value); None values are shown as « — »."""
    label_w = 70
    max_value = max((v for _, v in items if v is not None), default=Decimal(1)) or Decimal(1)
    plot_w = width - label_w - 90
    bars = []
    for i, (label, value) in enumerate(items):
        v = value if value is not None else Decimal(0)
        bars.append(
            Bar(
                label=label,
                value=v,
                display=(f"{format_number(value, 1)} {unit}" if value is not None else "—"),
                y=i * row + 8,
                width=float(v / max_value) * plot_w,
            )
        )
    return {
        "bars": bars,
        "width": width,
        "height": len(items) * row + 12,
        "label_w": label_w,
        "bar_h": row - 12,
    }
