"""Physical indicators of a contract: the catalogue (output and result indicators, with their
unit, objectives, baseline and 2027 target) and the values recorded per operation.

Values are appended, never edited: recording a new value for an (operation, indicator) keeps
the previous ones as history; the latest by date (then by recording order) is the one that
counts (`cper.indicators.selectors`). Quantities are decimals, never floats.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from cper.db import Sourced

QUANTITY_DIGITS = 18
QUANTITY_PLACES = 4


class IndicatorKind(models.TextChoices):
    OUTPUT = "output", "réalisation"
    RESULT = "result", "résultat"


class Unit(models.TextChoices):
    """The units the catalogue uses. Whether a unit adds up across operations is the rules'
    business (`cper.indicators.rules.summable`): ratios and percentages do not."""

    COUNT = "nombre", "nombre"
    M2 = "m2", "m²"
    KM = "km", "km"
    HECTARE = "ha", "ha"
    EURO = "eur", "€"
    PLACES = "places", "places"
    HOUSING = "logements", "logements"
    PERSONS = "personnes", "personnes"
    MWH = "mwh", "MWh"
    TCO2 = "tco2", "t CO₂"
    PERCENT = "pourcent", "%"
    RATIO = "ratio", "ratio"


def quantity(verbose: str) -> models.DecimalField:
    return models.DecimalField(
        verbose,
        max_digits=QUANTITY_DIGITS,
        decimal_places=QUANTITY_PLACES,
        null=True,
        blank=True,
    )


class Indicator(Sourced):
    """One indicator of a contract's catalogue (`provenance` official when the contract or its
    evaluation framework states it, illustrative otherwise; `source` says where it comes from)."""

    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.CASCADE, related_name="indicators"
    )
    code = models.CharField("code", max_length=30)
    name = models.CharField("intitulé", max_length=300)
    kind = models.CharField("nature", max_length=8, choices=IndicatorKind.choices)
    unit = models.CharField("unité", max_length=12, choices=Unit.choices)
    objectives = models.ManyToManyField(
        "contracts.Objective", related_name="indicators", blank=True
    )
    baseline_value = quantity("valeur de référence")
    baseline_year = models.PositiveSmallIntegerField("année de référence", null=True, blank=True)
    target_2027 = quantity("cible 2027")
    position = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        verbose_name = "indicateur"
        ordering = ["contract", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "code"], name="indicator_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class IndicatorValue(models.Model):
    """A value of an indicator for one operation, as known at `date` (append-only)."""

    operation = models.ForeignKey(
        "operations.Operation", on_delete=models.PROTECT, related_name="indicator_values"
    )
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="values")
    planned = quantity("prévu")
    achieved = quantity("réalisé")
    date = models.DateField("date de la valeur")
    source = models.CharField("source", max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField("enregistrée le", default=timezone.now)

    class Meta:
        verbose_name = "valeur d'indicateur"
        verbose_name_plural = "valeurs d'indicateurs"
        ordering = ["operation", "indicator", "date", "id"]
        indexes = [models.Index(fields=["indicator", "operation", "date"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(planned__isnull=False) | models.Q(achieved__isnull=False),
                name="indicator_value_not_empty",
            )
        ]

    def __str__(self) -> str:
        return f"{self.indicator.code} · {self.operation_id} · {self.date}"
