"""The ledger in the admin: read only. Movements are recorded through the services (pages,
imports, API) and never edited nor deleted; summaries are rebuilt by the command."""

from __future__ import annotations

from django.contrib import admin

from cper.finance.models import AeMiseEnPlace, ExecutionCell, LineState, Movement
from cper.readonly_admin import ReadOnlyAdmin


@admin.register(Movement)
class MovementAdmin(ReadOnlyAdmin):
    list_display = ("id", "date", "kind", "amount", "reference", "financing_line", "via")
    list_filter = ("kind", "via")
    search_fields = ("reference", "idempotency_key")
    date_hierarchy = "date"
    raw_id_fields = ("financing_line", "cancels", "recorded_by")
    list_select_related = ("financing_line",)


@admin.register(LineState)
class LineStateAdmin(ReadOnlyAdmin):
    list_display = (
        "line",
        "contract",
        "partner",
        "objective",
        "status",
        "programmed",
        "committed",
        "paid",
    )
    raw_id_fields = ("line", "operation")


@admin.register(ExecutionCell)
class ExecutionCellAdmin(ReadOnlyAdmin):
    list_display = (
        "contract",
        "grain",
        "dim",
        "value",
        "period",
        "partner",
        "objective",
        "programmed",
        "committed",
        "paid",
    )
    list_filter = ("grain", "dim")


@admin.register(AeMiseEnPlace)
class AeMiseEnPlaceAdmin(ReadOnlyAdmin):  # issue 12: recorded through the service only
    list_display = ("id", "contract", "programme", "bop", "year", "kind", "amount", "date")
    list_filter = ("kind", "year", "provenance")
    search_fields = ("reference", "bop")
    list_select_related = ("contract", "programme")
