"""The import log: who imported which file (name and SHA-256), when, with what result.

A large upload is run by a background job (`cper.io.tasks`, `cper worker`): its log waits
« en attente », then the job fills in its progress (`rows_done` / `rows_total`) as it goes, so
that any web process shows it.

An entry is written for every run — dry run, applied, refused — outside the import's own
transaction, so that a refused all-or-nothing import leaves the data unchanged but is still
logged. An applied import also writes an audit entry whose subject is its log (action
`import.applied`), so the audit trail links to it; the rows it changed carry `via=import`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ImportKind(models.TextChoices):
    OPERATIONS = "operations", "opérations et plans de financement"
    MOVEMENTS = "movements", "engagements et paiements"


class ImportState(models.TextChoices):
    PENDING = "pending", "en attente"
    RUNNING = "running", "en cours"
    DRY_RUN = "dry_run", "simulation"
    APPLIED = "applied", "appliqué"
    PARTIAL = "partial", "appliqué en partie"
    REFUSED = "refused", "refusé (rien n'a été écrit)"
    FAILED = "failed", "échec"


class ImportLog(models.Model):
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.CASCADE, related_name="import_logs"
    )
    kind = models.CharField("nature", max_length=12, choices=ImportKind.choices)
    partner = models.ForeignKey(
        "contracts.Partner",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="partenaire",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="utilisateur",
    )
    via = models.CharField("chemin", max_length=10, default="import")
    started_at = models.DateTimeField("début", auto_now_add=True)
    finished_at = models.DateTimeField("fin", null=True, blank=True)
    file_name = models.CharField("fichier", max_length=255)
    sha256 = models.CharField("empreinte SHA-256", max_length=64, db_index=True)
    size = models.PositiveBigIntegerField("taille (octets)", default=0)
    dry_run = models.BooleanField("simulation", default=True)
    partial = models.BooleanField("application partielle", default=False)
    state = models.CharField(
        "état", max_length=10, choices=ImportState.choices, default=ImportState.PENDING
    )
    rows_total = models.PositiveIntegerField("lignes", default=0)
    rows_done = models.PositiveIntegerField("lignes traitées", default=0)
    created = models.PositiveIntegerField("créées", default=0)
    updated = models.PositiveIntegerField("modifiées", default=0)
    unchanged = models.PositiveIntegerField("inchangées", default=0)
    rejected = models.PositiveIntegerField("rejetées", default=0)
    # The report: layout, sheet, rejections [{sheet,row,column,message}], warnings, options.
    report = models.JSONField("rapport", default=dict, blank=True)
    # The uploaded file, kept under MEDIA_ROOT while a page preview waits for confirmation.
    stored_path = models.CharField(max_length=500, blank=True)
    # The background job (django-tasks result id) that runs a large upload in `cper worker`.
    job_id = models.CharField("tâche", max_length=64, blank=True)
    # A dry run confirmed from the page points at it from the applied run.
    preview_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="confirmations"
    )

    class Meta:
        verbose_name = "import"
        verbose_name_plural = "journal des imports"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["contract", "-started_at"])]

    def __str__(self) -> str:
        return f"import {self.get_kind_display()} {self.file_name} ({self.get_state_display()})"

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.finished_at else 0
        return min(100, int(self.rows_done * 100 / self.rows_total))

    @property
    def is_finished(self) -> bool:
        return self.state not in {ImportState.PENDING, ImportState.RUNNING}


# --- exports prepared in the background (issue 14) ----------------------------------------------


class ExportState(models.TextChoices):
    PENDING = "pending", "en attente"
    RUNNING = "running", "en préparation"
    DONE = "done", "prêt"
    FAILED = "failed", "échec"


class ExportJob(models.Model):
    """An export of a whole register (XLSX, ODS, SCDL, data package) prepared by a background
    job (`cper.io.tasks.run_export`, in `cper worker`): the page polls its progress, then offers
    the file, written under MEDIA_ROOT/exports and downloaded through a view that checks who
    asks (`cper.io.views.export_download`). `cper io purge` deletes the file after its retention
    period (`CPER_EXPORT_RETENTION_DAYS`); the row stays, without its file.

    The id is a random UUID: the pages name a job by it, and an anonymous visitor's job (public
    data only) is reached by its link alone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.CASCADE, related_name="export_jobs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="demandé par",
    )
    kind = models.CharField("export", max_length=16)  # operations, lines, …, scdl, datapackage
    fmt = models.CharField("format", max_length=8)  # csv, xlsx, ods, zip
    # What the export was asked with: filters, as_of (ISO), group_by, partner (SCDL).
    params = models.JSONField("paramètres", default=dict, blank=True)
    state = models.CharField(
        "état", max_length=10, choices=ExportState.choices, default=ExportState.PENDING
    )
    rows_done = models.PositiveIntegerField("lignes écrites", default=0)
    rows_total = models.PositiveIntegerField("lignes prévues", default=0)
    created_at = models.DateTimeField("demandé le", auto_now_add=True)
    started_at = models.DateTimeField("début", null=True, blank=True)
    finished_at = models.DateTimeField("fin", null=True, blank=True)
    # The file, relative to MEDIA_ROOT; empty until it is ready, and again once purged.
    stored_path = models.CharField(max_length=500, blank=True)
    file_name = models.CharField("fichier", max_length=255, blank=True)
    size = models.PositiveBigIntegerField("taille (octets)", default=0)
    error = models.TextField("motif de l'échec", blank=True)
    job_id = models.CharField("tâche", max_length=64, blank=True)

    class Meta:
        verbose_name = "export préparé"
        verbose_name_plural = "exports préparés"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["contract", "-created_at"])]

    def __str__(self) -> str:
        return f"export {self.kind}.{self.fmt} ({self.get_state_display()})"

    @property
    def is_finished(self) -> bool:
        return self.state in {ExportState.DONE, ExportState.FAILED}

    @property
    def percent(self) -> int:
        if self.state == ExportState.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))
