"""Read-only admin of the contracts: a contract, its partners, axes, objectives, priorities,
markers and programmes are written by the contract loader through the services (validated,
audited), never edited here."""

from typing import Any

from django.contrib import admin

from cper.contracts.models import (
    Axis,
    BudgetProgramme,
    Contract,
    Marker,
    MarkerContribution,
    Objective,
    Partner,
    PartnerStatedAmount,
    Priority,
)


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ReadOnlyInline:
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class AxisInline(ReadOnlyInline, admin.TabularInline):  # type: ignore[type-arg]
    model = Axis


@admin.register(Contract)
class ContractAdmin(ReadOnly):
    list_display = ["slug", "title", "region", "start_year", "end_year", "envelope", "status"]
    inlines = [AxisInline]


class StatedInline(ReadOnlyInline, admin.TabularInline):  # type: ignore[type-arg]
    model = PartnerStatedAmount


@admin.register(Partner)
class PartnerAdmin(ReadOnly):
    list_display = ["code", "name", "kind", "contract", "siren"]
    list_filter = ["contract", "kind"]
    inlines = [StatedInline]


@admin.register(Axis)
class AxisAdmin(ReadOnly):
    list_display = ["contract", "number", "title", "stated_share"]


@admin.register(Objective)
class ObjectiveAdmin(ReadOnly):
    list_display = ["contract", "code", "title", "axis"]
    list_filter = ["contract"]


@admin.register(Priority)
class PriorityAdmin(ReadOnly):
    list_display = ["contract", "number", "title"]


class ContributionInline(ReadOnlyInline, admin.StackedInline):  # type: ignore[type-arg]
    model = MarkerContribution


@admin.register(Marker)
class MarkerAdmin(ReadOnly):
    list_display = ["contract", "code", "label"]
    inlines = [ContributionInline]


@admin.register(BudgetProgramme)
class BudgetProgrammeAdmin(ReadOnly):
    list_display = ["code", "label", "ministry"]
