"""Consistency rules on a contract's structure (plain functions returning findings)."""

from __future__ import annotations

from decimal import Decimal

from cper.checks import register_check
from cper.contracts.models import Contract
from cper.findings import ERROR, INFO, WARNING, Finding
from cper.money import format_number


def _pct(value: Decimal) -> str:
    return f"{format_number(value, 1)} %"


def shares_findings(*, shares: list[tuple[int, Decimal | None, str]]) -> list[Finding]:
    """Rule on the axis shares stated by the contract: [(axis number, share or None, note)]."""
    stated = [(n, s) for n, s, _ in shares if s is not None]
    if not stated:
        return [Finding("parts-absentes", "Aucune part par axe n'est annoncée.", INFO)]
    total = sum((s for _, s in stated), Decimal("0"))
    without = [(n, note) for n, s, note in shares if s is None]
    listed = " + ".join(_pct(s) for _, s in stated)
    if total > 100:
        return [
            Finding(
                "parts-superieures-a-100",
                f"Les parts annoncées ({listed}) font {_pct(total)}, plus de 100 %.",
                ERROR,
            )
        ]
    if total == 100:
        return [Finding("parts", f"Les parts annoncées font 100 % ({listed}).", INFO)]
    rest = Decimal(100) - total
    others = (
        "; ".join(f"axe {n} : {note or 'pas de part annoncée'}" for n, note in without)
        if without
        else "aucun autre axe"
    )
    return [
        Finding(
            "parts-inferieures-a-100",
            f"Les parts annoncées des axes {', '.join(str(n) for n, _ in stated)} ({listed}) "
            f"font {_pct(total)} : il reste {_pct(rest)} qu'aucune part annoncée n'attribue "
            f"(arrondi des sources). Axes sans part annoncée — {others}.",
            WARNING,
        )
    ]


@register_check
def check_axis_shares(contract: Contract) -> list[Finding]:
    shares = [(a.number, a.stated_share, a.share_note) for a in contract.axes.order_by("number")]
    return shares_findings(shares=shares)


@register_check
def check_structure(contract: Contract) -> list[Finding]:
    findings: list[Finding] = []
    for axis in contract.axes.filter(objectives__isnull=True):
        findings.append(
            Finding("axe-sans-objectif", f"L'axe {axis.number} n'a aucun objectif.", ERROR)
        )
    if not contract.partners.exists():
        findings.append(Finding("aucun-partenaire", "Le contrat n'a aucun partenaire.", ERROR))
    return findings
