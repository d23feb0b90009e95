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


class AxisInline(admin.TabularInline):
    model = Axis
    extra = 0


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "region", "start_year", "end_year", "envelope", "status"]
    inlines = [AxisInline]


class StatedInline(admin.TabularInline):
    model = PartnerStatedAmount
    extra = 0


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "contract", "siren"]
    list_filter = ["contract", "kind"]
    inlines = [StatedInline]


@admin.register(Axis)
class AxisAdmin(admin.ModelAdmin):
    list_display = ["contract", "number", "title", "stated_share"]


@admin.register(Objective)
class ObjectiveAdmin(admin.ModelAdmin):
    list_display = ["contract", "code", "title", "axis"]
    list_filter = ["contract"]


@admin.register(Priority)
class PriorityAdmin(admin.ModelAdmin):
    list_display = ["contract", "number", "title"]


class ContributionInline(admin.StackedInline):
    model = MarkerContribution
    extra = 0


@admin.register(Marker)
class MarkerAdmin(admin.ModelAdmin):
    list_display = ["contract", "code", "label"]
    inlines = [ContributionInline]


@admin.register(BudgetProgramme)
class BudgetProgrammeAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "ministry"]
