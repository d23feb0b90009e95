"""Consistency rules on a contract's structure (plain functions returning findings)."""

from __future__ import annotations

from decimal import Decimal

from cper.checks import register_check
from cper.contracts.models import Contract
from cper.contracts.selectors import volet_parts
from cper.findings import ERROR, INFO, WARNING, Finding
from cper.money import format_number


def _pct(value: Decimal) -> str:
    return f"{format_number(value, 1)} %"


def shares_findings(
    *,
    shares: list[tuple[int, Decimal | None, str]],
    volet: str = "",
    tolerance: Decimal | None = None,
) -> list[Finding]:
    """Rule on the axis shares stated by the contract: [(axis number, share or None, note)],
    the axes of one volet (`volet`: its name and period, for the message, when the contract
    has several) — a volet's shares add up to 100 % of that volet. A sum short of 100 % by no
    more than `tolerance` points (the contract's share tolerance) is the sources' rounding:
    it informs, it does not warn."""
    stated = [(n, s) for n, s, _ in shares if s is not None]
    if not stated:
        if volet:
            notes = "; ".join(
                f"axe {n} : {note or 'pas de part annoncée'}" for n, _, note in shares
            )
            return [
                Finding(
                    "parts-absentes",
                    f"{volet} : aucune part par axe n'est annoncée ({notes}).",
                    INFO,
                )
            ]
        return [Finding("parts-absentes", "Aucune part par axe n'est annoncée.", INFO)]
    findings = _stated_findings(shares, stated, tolerance)
    if volet:
        return [
            Finding(f.field, f"{volet} : {f.message[0].lower()}{f.message[1:]}", f.level)
            for f in findings
        ]
    return findings


def _stated_findings(
    shares: list[tuple[int, Decimal | None, str]],
    stated: list[tuple[int, Decimal]],
    tolerance: Decimal | None,
) -> list[Finding]:
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
    within = tolerance is not None and rest <= tolerance
    rounding = (
        f"arrondi des sources, dans la tolérance du contrat de {format_number(tolerance, 2)} point"
        if within and tolerance is not None
        else "arrondi des sources"
    )
    return [
        Finding(
            "parts-inferieures-a-100",
            f"Les parts annoncées des axes {', '.join(str(n) for n, _ in stated)} ({listed}) "
            f"font {_pct(total)} : il reste {_pct(rest)} qu'aucune part annoncée n'attribue "
            f"({rounding}). Axes sans part annoncée — {others}.",
            INFO if within else WARNING,
        )
    ]


@register_check
def check_axis_shares(contract: Contract) -> list[Finding]:
    """The stated shares, volet by volet (issue 12): each volet's axes share its credits."""
    parts = [p for p in volet_parts(contract=contract) if p.axes]
    findings: list[Finding] = []
    for part in parts:
        shares = [(a.number, a.stated_share, a.share_note) for a in part.axes]
        label = f"{part.title} ({part.period_label})" if len(parts) > 1 else ""
        findings += shares_findings(
            shares=shares, volet=label, tolerance=Decimal(contract.share_tolerance)
        )
    return findings


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
