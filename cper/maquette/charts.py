"""The maquette's chart: partners stacked per axis, drawn on the server as inline SVG (no
script, no network), always shown next to a table of the same figures."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cper.money import format_meur

# Colours of the DSFR illustrative palette, in partner order (repeated beyond ten).
PALETTE = [
    "#000091",  # bleu France
    "#e1000f",  # rouge Marianne
    "#009081",  # menthe
    "#c8aa39",  # tournesol
    "#a558a0",  # glycine
    "#e4794a",  # tuile
    "#465f9d",  # écume
    "#66673d",  # olive
    "#8585f6",  # bleu cumulus
    "#ce614a",  # terre battue
]


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    colour: str
    title: str


@dataclass(frozen=True)
class StackedBar:
    label: str
    y: int
    segments: list[Segment]
    total_display: str
    end: float


@dataclass(frozen=True)
class LegendItem:
    label: str
    colour: str
    x: int
    y: int


def stacked_hbar(
    bars: list[tuple[str, list[Decimal]]],
    series: list[str],
    *,
    width: int = 760,
    row: int = 34,
    label_w: int = 70,
) -> dict[str, object]:
    """One horizontal bar per (label, values by series), segments stacked in series order and
    scaled to the largest bar; a legend of the series below. Negative values are not drawn."""
    plot_w = width - label_w - 120
    largest = max((sum((v for v in values if v > 0), Decimal(0)) for _, values in bars), default=0)
    scale = float(plot_w) / float(largest) if largest else 0.0
    out = []
    for i, (label, values) in enumerate(bars):
        x = float(label_w)
        segments = []
        for j, value in enumerate(values):
            if value <= 0:
                continue
            w = float(value) * scale
            segments.append(
                Segment(
                    x=x,
                    width=w,
                    colour=PALETTE[j % len(PALETTE)],
                    title=f"{label} — {series[j]} : {format_meur(value)}",
                )
            )
            x += w
        total = sum(values, Decimal(0))
        out.append(
            StackedBar(
                label=label,
                y=i * row + 8,
                segments=segments,
                total_display=format_meur(total),
                end=x,
            )
        )
    legend_top = len(bars) * row + 20
    per_line = max(1, width // 190)
    legend = [
        LegendItem(
            label=name,
            colour=PALETTE[j % len(PALETTE)],
            x=(j % per_line) * 190,
            y=legend_top + (j // per_line) * 22,
        )
        for j, name in enumerate(series)
    ]
    lines = (len(series) + per_line - 1) // per_line
    return {
        "bars": out,
        "legend": legend,
        "width": width,
        "height": legend_top + lines * 22 + 6,
        "label_w": label_w,
        "bar_h": row - 12,
    }
