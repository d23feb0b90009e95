"""The execution ledger: commitments, decommitments, payments and cancellations on financing
lines. Movements are appended, never edited or deleted; a correction is a new movement.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from cper.audit.models import Via
from cper.db import MoneyField


class MovementKind(models.TextChoices):
    COMMITMENT = "commitment", "engagement"
    DECOMMITMENT = "decommitment", "désengagement"
    PAYMENT = "payment", "paiement (mandatement)"
    PAYMENT_CANCELLATION = "payment_cancellation", "annulation de paiement"


class Movement(models.Model):
    financing_line = models.ForeignKey(
        "operations.FinancingLine", on_delete=models.PROTECT, related_name="movements"
    )
    kind = models.CharField("nature", max_length=22, choices=MovementKind.choices)
    date = models.DateField("date")
    amount = MoneyField("montant (€)")  # always positive: the kind gives the sign
    reference = models.CharField("référence (n° EJ, d'affectation, de mandat)", max_length=60)
    cancels = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cancellations",
        verbose_name="mouvement annulé",
    )
    via = models.CharField("chemin", max_length=10, choices=Via.choices, default=Via.WEB)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    note = models.CharField("note", max_length=300, blank=True)

    class Meta:
        verbose_name = "mouvement"
        ordering = ["financing_line", "date", "id"]
        indexes = [models.Index(fields=["financing_line", "date"]), models.Index(fields=["date"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="movement_amount_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference} {self.amount} € ({self.date})"

    @property
    def signed_committed(self):  # type: ignore[no-untyped-def]
        if self.kind == MovementKind.COMMITMENT:
            return self.amount
        if self.kind == MovementKind.DECOMMITMENT:
            return -self.amount
        return 0

    @property
    def signed_paid(self):  # type: ignore[no-untyped-def]
        if self.kind == MovementKind.PAYMENT:
            return self.amount
        if self.kind == MovementKind.PAYMENT_CANCELLATION:
            return -self.amount
        return 0
