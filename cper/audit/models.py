"""The audit trail: who changed what, when, through which path, with before/after values.

Entries are appended by the domain services through `cper.audit.services` (never by views),
and never edited; each names one action of the closed list `cper.audit.actions.AuditAction`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from cper.audit.actions import AuditAction


class Via(models.TextChoices):
    WEB = "web", "page web"
    IMPORT = "import", "import"
    API = "api", "API"
    CLI = "cli", "ligne de commande"
    ADMIN = "admin", "administration"
    SYSTEM = "system", "système"


class AuditEntry(models.Model):
    at = models.DateTimeField("date", auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_entries",
        verbose_name="utilisateur",
    )
    via = models.CharField("chemin", max_length=10, choices=Via.choices)
    action = models.CharField("action", max_length=40, choices=AuditAction.choices)
    subject_type = models.CharField("type d'objet", max_length=60)
    subject_id = models.CharField("identifiant", max_length=64)
    subject_repr = models.CharField("objet", max_length=300, blank=True)
    # Denormalised so an operation's history tab and a contract's journal are one indexed query.
    # Indexed by the (…, -at, -id) indexes below, which also serve a filter on the id alone: a
    # single-column index more would only slow every write (the demo appends millions of rows).
    contract_id = models.BigIntegerField("contrat", null=True, blank=True)
    operation_id = models.BigIntegerField("opération", null=True, blank=True)
    changes = models.JSONField("modifications (avant/après)", default=dict, blank=True)
    message = models.TextField("motif", blank=True)

    class Meta:
        verbose_name = "entrée du journal"
        verbose_name_plural = "journal d'audit"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            # An operation's history tab and a contract's journal, newest first, LIMIT 20: without
            # them PostgreSQL walks the date index and filters (1 s at scale M).
            models.Index(fields=["operation_id", "-at", "-id"], name="audit_operation_recent"),
            models.Index(fields=["contract_id", "-at", "-id"], name="audit_contract_recent"),
        ]
        constraints = [
            # The list is closed: the database refuses an action it does not name.
            models.CheckConstraint(
                condition=models.Q(action__in=AuditAction.values), name="audit_action_known"
            )
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.subject_repr}"
