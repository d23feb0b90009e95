from django.contrib import admin

from cper.territories.models import Commune, Departement, Epci, ProjectTerritory, Region


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "siren"]


@admin.register(Departement)
class DepartementAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region"]
    list_filter = ["region"]


@admin.register(Epci)
class EpciAdmin(admin.ModelAdmin):
    list_display = ["siren", "name", "kind", "population"]
    search_fields = ["name", "siren"]


@admin.register(Commune)
class CommuneAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "departement", "epci", "population"]
    search_fields = ["name", "code"]
    list_select_related = ["departement", "epci"]
    raw_id_fields = ["epci"]


@admin.register(ProjectTerritory)
class ProjectTerritoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region"]
    filter_horizontal = ["epcis"]
    raw_id_fields = ["communes"]
