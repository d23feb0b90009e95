"""Read-only admin of the territories: the reference geography is loaded by `cper geo load`,
project territories by the contract loader, through the services (audited)."""

from django.contrib import admin

from cper.readonly_admin import ReadOnlyAdmin
from cper.territories.models import Commune, Departement, Epci, ProjectTerritory, Region


@admin.register(Region)
class RegionAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "siren"]


@admin.register(Departement)
class DepartementAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "region"]
    list_filter = ["region"]


@admin.register(Epci)
class EpciAdmin(ReadOnlyAdmin):
    list_display = ["siren", "name", "kind", "population"]
    search_fields = ["name", "siren"]


@admin.register(Commune)
class CommuneAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "departement", "epci", "population"]
    search_fields = ["name", "code"]
    list_select_related = ["departement", "epci"]
    raw_id_fields = ["epci"]


@admin.register(ProjectTerritory)
class ProjectTerritoryAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "region"]
    filter_horizontal = ["epcis"]
    raw_id_fields = ["communes"]
