"""Closings (arrêtés): the execution of a contract frozen at a date, and the commentary of the
annual execution report written on a closing.

A `Closing` is written once by `cper.closings.services.closing_create` and never edited nor
deleted (like a movement): its figures are one JSON document — every grouping the report and the
dashboards use, amounts as decimal strings — and its digest is the SHA-256 of that document in
canonical form, so that anyone can check that a figure read later is the one that was arrêté.
Why one JSON document rather than rows of a figures table: the snapshot is read and checked as a
whole (digest, report, API), its groupings vary (a key, a pair of keys, a filtered list of
operations), and a few hundred rows per closing do not need SQL to be summed — they are never
summed again, only shown.

`ReportComment` keeps every version of an axis's commentary: an edit appends a version.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from cper.db import AppendOnly


class ClosingImmutable(Exception):
    """Raised on any attempt to edit or delete a closing."""

    def __init__(self) -> None:
        super().__init__(
            "un arrêté ne se modifie ni ne se supprime : créez un nouvel arrêté (avec un autre "
            "libellé) si la situation doit être arrêtée de nouveau"
        )


class Closing(AppendOnly):
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="closings"
    )
    at = models.DateField("arrêté au")
    # "" for the closing of a date; another label (« définitif », « rectificatif »…) lets a date
    # be arrêtée again without touching the first one.
    label = models.CharField("libellé", max_length=120, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    via = models.CharField("chemin", max_length=10, default="web")
    created_at = models.DateTimeField("arrêté le", auto_now_add=True)
    figures = models.JSONField("chiffres arrêtés")
    digest = models.CharField("empreinte SHA-256", max_length=64)
    # The last ids of the ledger, the status log and the audit trail when the closing was made:
    # what was recorded after it is what the reconciliation lists.
    watermarks = models.JSONField("repères", default=dict)

    immutable = ClosingImmutable

    class Meta:
        verbose_name = "arrêté"
        ordering = ["contract", "-at", "label"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "at", "label"], name="closing_unique")
        ]

    def __str__(self) -> str:
        text = f"Situation arrêtée au {self.at:%d/%m/%Y}"
        return f"{text} ({self.label})" if self.label else text


class ReportComment(models.Model):
    """One version of the commentary of an axis in the annual report of a closing; the current
    text is the last version (edits append, nothing is overwritten)."""

    closing = models.ForeignKey(Closing, on_delete=models.PROTECT, related_name="comments")
    axis = models.ForeignKey("contracts.Axis", on_delete=models.PROTECT, related_name="+")
    text = models.TextField("commentaire")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField("écrit le", auto_now_add=True)

    class Meta:
        verbose_name = "commentaire du bilan"
        ordering = ["closing", "axis", "at", "id"]

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._state.adding:
            raise ClosingImmutable()
        super().save(*args, **kwargs)
