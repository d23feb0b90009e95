"""Read-only admin of the maquette: lines and amendments are written by the contract loader
and the services (validated, audited), never edited here."""

from typing import Any

from django.contrib import admin

from cper.maquette.models import Allocation, Amendment
from cper.readonly_admin import ReadOnlyAdmin


class ChangeInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Allocation
    extra = 0
    fields = ("partner", "objective", "year", "amount", "note", "programme", "provenance")
    readonly_fields = ("partner", "objective", "year", "amount", "note", "programme", "provenance")
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Amendment)
class AmendmentAdmin(ReadOnlyAdmin):
    list_display = ["contract", "number", "title", "kind", "effective_on", "provenance"]
    list_filter = ["contract", "kind"]
    inlines = [ChangeInline]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ["contract", "amendment", "partner", "objective", "year", "amount", "provenance"]
    list_filter = ["contract", "amendment", "partner", "provenance"]
    list_select_related = ["contract", "amendment", "partner", "objective"]
