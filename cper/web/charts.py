"""Charts drawn on the server as inline SVG: no script, no network, readable by the DSFR
palette, and always paired with a table of the same figures in the template."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from cper.money import format_meur, format_number


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


# -- series charts (grouped bars, lines) ---------------------------------------------------------

# The execution measures, in the order they are drawn, with DSFR colours (CSS classes in
# web/cper.css carry the same colours through DSFR variables).
MEASURES: dict[str, tuple[str, str]] = {
    "maquette": ("Maquette", "#929292"),
    "programmed": ("Programmé", "#6a6af4"),
    "committed": ("Engagé", "#000091"),
    "paid": ("Payé", "#18753c"),
    "pace_target": ("Rythme linéaire", "#ce614a"),
    # The State's chain by LOLF programme (issue 12)
    "contractualised": ("Contractualisé", "#929292"),
    "ae_delegated": ("AE mises en place", "#6a6af4"),
    "ae_committed": ("AE engagées", "#000091"),
    "cp_paid": ("CP payés", "#18753c"),
}


def _nice_step(span: Decimal, ticks: int = 5) -> Decimal:
    if span <= 0:
        return Decimal(1)
    raw = span / ticks
    magnitude = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal("0.1")
    for factor in (1, 2, 2.5, 5, 10):
        step = magnitude * Decimal(str(factor))
        if step >= raw:
            return step
    return magnitude * 10


def _axis_label(value: Decimal, unit: str) -> str:
    if unit == "M€":
        return f"{format_number(value / Decimal(1_000_000), 0)}"
    return format_number(value, 0)


def _ticks(maximum: Decimal, unit: str) -> list[tuple[Decimal, str]]:
    step = _nice_step(maximum)
    out: list[tuple[Decimal, str]] = []
    v = Decimal(0)
    while v <= maximum + step / 1000 and len(out) < 12:
        out.append((v, _axis_label(v, unit)))
        v += step
    if out[-1][0] < maximum:
        out.append((v, _axis_label(v, unit)))
    return out


def grouped_hbar(
    *,
    chart_id: str,
    title: str,
    categories: list[str],
    series: list[str],
    values: list[list[Decimal | None]],
    unit: str = "M€",
    width: int = 900,
    label_w: int = 210,
) -> SafeString:
    """Horizontal bars grouped by category: one bar per series (a key of MEASURES) in each
    group; the figures are in the table next to the chart, and in each bar's tooltip."""
    bar_h, gap = (10, 14) if len(categories) <= 8 else (7, 10)
    group_h = bar_h * len(series) + gap
    top, bottom = 4, 26
    height = top + group_h * len(categories) + bottom
    plot_w = width - label_w - 20
    maximum = max((v for row in values for v in row if v is not None and v > 0), default=Decimal(1))
    ticks = _ticks(maximum, unit)
    scale_max = ticks[-1][0] or Decimal(1)

    def x(v: Decimal) -> float:
        return label_w + float(v / scale_max) * plot_w

    parts = [
        format_html(
            '<svg class="cper-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title" '
            'focusable="false"><title id="{}-title">{}</title>',
            width,
            height,
            chart_id,
            chart_id,
            title,
        )
    ]
    axis_y = top + group_h * len(categories)
    for value, label in ticks:
        parts.append(
            format_html(
                '<line class="cper-grid" x1="{x}" x2="{x}" y1="{t}" y2="{b}"></line>'
                '<text class="cper-tick" x="{x}" y="{ty}" text-anchor="middle">{l}</text>',
                x=f"{x(value):.1f}",
                t=top,
                b=axis_y,
                ty=axis_y + 16,
                l=label,
            )
        )
    for i, (category, row) in enumerate(zip(categories, values, strict=True)):
        y0 = top + i * group_h
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end">{}</text>',
                label_w - 8,
                f"{y0 + (bar_h * len(series)) / 2 + 4:.1f}",
                _truncate(category, 32),
            )
        )
        for j, (key, amount) in enumerate(zip(series, row, strict=True)):
            name, colour = MEASURES[key]
            w = x(amount) - label_w if amount is not None and amount > 0 else 0
            parts.append(
                format_html(
                    '<rect class="cper-s-{}" fill="{}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{} — {} : {}</title></rect>",
                    key,
                    colour,
                    label_w,
                    y0 + j * bar_h,
                    f"{w:.1f}",
                    bar_h - 1,
                    category,
                    name,
                    format_meur(amount),
                )
            )
    parts.append(
        format_html(
            '<line class="cper-axis" x1="{x}" x2="{x}" y1="{t}" y2="{b}"></line></svg>',
            x=label_w,
            t=top,
            b=axis_y,
        )
    )
    return mark_safe("".join(parts))  # every piece went through format_html


def line_chart(
    *,
    chart_id: str,
    title: str,
    months: list[dt.date],
    series: dict[str, list[Decimal]],
    marker: dt.date | None = None,
    unit: str = "M€",
    width: int = 720,
    height: int = 300,
) -> SafeString:
    """Cumulative amounts month by month: one polyline per series (keys of MEASURES); the
    straight-line pace is dashed; `marker` draws the as-of date."""
    left, right, top, bottom = 56, 12, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum = max((v for vs in series.values() for v in vs), default=Decimal(1)) or Decimal(1)
    ticks = _ticks(maximum, unit)
    scale_max = ticks[-1][0] or Decimal(1)
    n = max(len(months) - 1, 1)

    def px(i: int) -> float:
        return left + plot_w * i / n

    def py(v: Decimal) -> float:
        return top + plot_h - float(v / scale_max) * plot_h

    parts = [
        format_html(
            '<svg class="cper-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title" '
            'focusable="false"><title id="{}-title">{}</title>',
            width,
            height,
            chart_id,
            chart_id,
            title,
        )
    ]
    for value, label in ticks:
        parts.append(
            format_html(
                '<line class="cper-grid" x1="{}" x2="{}" y1="{y}" y2="{y}"></line>'
                '<text class="cper-tick" x="{}" y="{ty}" text-anchor="end">{}</text>',
                left,
                width - right,
                left - 6,
                label,
                y=f"{py(value):.1f}",
                ty=f"{py(value) + 4:.1f}",
            )
        )
    for i, month in enumerate(months):
        if month.month == 1 or i == 0:
            parts.append(
                format_html(
                    '<line class="cper-axis" x1="{x}" x2="{x}" y1="{b}" y2="{b2}"></line>'
                    '<text class="cper-tick" x="{x}" y="{ty}" text-anchor="middle">{l}</text>',
                    x=f"{px(i):.1f}",
                    b=top + plot_h,
                    b2=top + plot_h + 5,
                    ty=top + plot_h + 18,
                    l=month.year,
                )
            )
    if marker is not None and months and months[0] <= marker:
        idx = sum(1 for m in months if m <= marker) - 1
        parts.append(
            format_html(
                '<line class="cper-marker" x1="{x}" x2="{x}" y1="{}" y2="{}"></line>',
                top,
                top + plot_h,
                x=f"{px(idx):.1f}",
            )
        )
    for key, values in series.items():
        name, colour = MEASURES[key]
        points = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(values))
        parts.append(
            format_html(
                '<polyline class="cper-line cper-s-{}" stroke="{}" fill="none" points="{}"{}>'
                "<title>{}</title></polyline>",
                key,
                colour,
                points,
                mark_safe(' stroke-dasharray="6 4"') if key == "pace_target" else "",
                name,
            )
        )
    parts.append(
        format_html(
            '<line class="cper-axis" x1="{l}" x2="{r}" y1="{b}" y2="{b}"></line></svg>',
            l=left,
            r=width - right,
            b=top + plot_h,
        )
    )
    return mark_safe("".join(parts))  # every piece went through format_html


def _truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
