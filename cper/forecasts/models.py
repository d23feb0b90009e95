"""Forecast schedules of financing lines: the planned commitments and payments by year.

A line's schedule is a set of rows sharing a `version`; replacing the schedule appends a new
version (the previous rows stay as history) and the latest version is the one that counts
(`cper.forecasts.selectors`). Commitments are AE for the State and AP for local authorities,
payments are CP for both (`cper.forecasts.figures.credit_words`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from cper.db import MoneyField


class LineSchedule(models.Model):
    line = models.ForeignKey(
        "operations.FinancingLine", on_delete=models.PROTECT, related_name="schedule_rows"
    )
    version = models.PositiveIntegerField("version")
    year = models.PositiveSmallIntegerField("année")
    planned_commitment = MoneyField("engagement prévu (AE/AP, €)", default=0)
    planned_payment = MoneyField("paiement prévu (CP, €)", default=0)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField("enregistré le", default=timezone.now)

    class Meta:
        verbose_name = "échéancier prévisionnel (ligne)"
        verbose_name_plural = "échéanciers prévisionnels (lignes)"
        ordering = ["line", "version", "year"]
        constraints = [
            models.UniqueConstraint(
                fields=["line", "version", "year"], name="line_schedule_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(planned_commitment__gte=0) & models.Q(planned_payment__gte=0),
                name="line_schedule_amounts_pos",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} v{self.version} {self.year}"
