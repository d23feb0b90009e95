"""Read-only admin of the contracts: a contract, its partners, axes, objectives, priorities,
markers and programmes are written by the contract loader through the services (validated,
audited), never edited here."""

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
from cper.readonly_admin import ReadOnlyAdmin, ReadOnlyInline


class AxisInline(ReadOnlyInline, admin.TabularInline):  # type: ignore[type-arg]
    model = Axis


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ["slug", "title", "region", "start_year", "end_year", "envelope", "status"]
    inlines = [AxisInline]


class StatedInline(ReadOnlyInline, admin.TabularInline):  # type: ignore[type-arg]
    model = PartnerStatedAmount


@admin.register(Partner)
class PartnerAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind", "contract", "siren"]
    list_filter = ["contract", "kind"]
    inlines = [StatedInline]


@admin.register(Axis)
class AxisAdmin(ReadOnlyAdmin):
    list_display = ["contract", "number", "title", "stated_share"]


@admin.register(Objective)
class ObjectiveAdmin(ReadOnlyAdmin):
    list_display = ["contract", "code", "title", "axis"]
    list_filter = ["contract"]


@admin.register(Priority)
class PriorityAdmin(ReadOnlyAdmin):
    list_display = ["contract", "number", "title"]


class ContributionInline(ReadOnlyInline, admin.StackedInline):  # type: ignore[type-arg]
    model = MarkerContribution


@admin.register(Marker)
class MarkerAdmin(ReadOnlyAdmin):
    list_display = ["contract", "code", "label"]
    inlines = [ContributionInline]


@admin.register(BudgetProgramme)
class BudgetProgrammeAdmin(ReadOnlyAdmin):
    list_display = ["code", "label", "ministry"]
