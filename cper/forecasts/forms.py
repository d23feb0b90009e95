"""The small form of the block « Échéancier prévisionnel » on an operation's page: a line's
whole schedule typed as one row per year, `année ; engagement prévu ; paiement prévu`
(amounts the French way, `1 234 567,89`). It parses; the service validates and writes."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from dsfr.forms import DsfrBaseForm

from cper.findings import Finding
from cper.money import MoneyError, format_number, parse_amount

Rows = list[tuple[int, Decimal, Decimal]]


def parse_rows(text: str) -> Rows:
    """`2025 ; 100 000 ; 50 000` per line (`;` or a tab between cells; a blank amount is 0)."""
    rows: Rows = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        cells = [c.strip() for c in re.split(r"[;\t]", raw)]
        if len(cells) != 3 or not re.fullmatch(r"\d{4}", cells[0]):
            raise forms.ValidationError(
                f"ligne {n} : attendu « année ; engagement prévu ; paiement prévu »"
            )
        try:
            amounts = [parse_amount(c) if c else Decimal(0) for c in cells[1:]]
        except MoneyError as exc:
            raise forms.ValidationError(f"ligne {n} : {exc}") from exc
        rows.append((int(cells[0]), amounts[0], amounts[1]))
    if not rows:
        raise forms.ValidationError("indiquez au moins une année")
    return rows


def rows_text(rows: Any) -> str:
    """A schedule's rows as the form shows them."""
    return "\n".join(
        f"{r.year} ; {format_number(r.commitment)} ; {format_number(r.payment)}" for r in rows
    )


class ScheduleForm(DsfrBaseForm):
    rows = forms.CharField(
        label="Échéancier (une année par ligne)",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="année ; engagement prévu ; paiement prévu — par exemple 2026 ; 150 000 ; 50 000",
    )

    def clean_rows(self) -> Rows:
        return parse_rows(self.cleaned_data["rows"])

    def add_findings(self, findings: list[Finding]) -> None:
        for f in findings:
            self.add_error("rows", f.message)
