"""The small form of the block « Indicateurs » on an operation's page: one value of one
indicator. It parses (quantities typed the French way, never floats); the service validates
and writes, and its findings are put back on the fields they name."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone
from dsfr.forms import DsfrBaseForm

from cper.findings import Finding
from cper.indicators.files import parse_quantity
from cper.indicators.models import Indicator
from cper.operations.forms import DateInput

_FIELDS = {"indicator", "planned", "achieved", "date", "source"}


class QuantityInput(forms.CharField):
    """A quantity typed `1 234,5` or `1234.5`; blank is None."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        text = super().to_python(value)
        try:
            return parse_quantity(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ValueForm(DsfrBaseForm):
    indicator = forms.ChoiceField(label="Indicateur")
    planned = QuantityInput(label="Prévu")
    achieved = QuantityInput(label="Réalisé")
    date = forms.DateField(label="Date de la valeur", widget=DateInput())
    source = forms.CharField(label="Source", max_length=300, required=False)

    def __init__(self, *args: Any, indicators: list[Indicator], **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("date", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["indicator"].choices = [  # type: ignore[attr-defined]
            (i.code, f"{i.code} — {i.name} ({i.get_unit_display()})") for i in indicators
        ]

    def add_findings(self, findings: list[Finding]) -> None:
        for f in findings:
            self.add_error(f.field if f.field in _FIELDS else None, f.message)
