"""Read-only admin of the territories: the reference geography is loaded by `cper geo load`,
project territories by the contract loader, through the services (audited)."""

from typing import Any

from django.contrib import admin

from cper.territories.models import Commune, Departement, Epci, ProjectTerritory, Region


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Region)
class RegionAdmin(ReadOnly):
    list_display = ["code", "name", "siren"]


@admin.register(Departement)
class DepartementAdmin(ReadOnly):
    list_display = ["code", "name", "region"]
    list_filter = ["region"]


@admin.register(Epci)
class EpciAdmin(ReadOnly):
    list_display = ["siren", "name", "kind", "population"]
    search_fields = ["name", "siren"]


@admin.register(Commune)
class CommuneAdmin(ReadOnly):
    list_display = ["code", "name", "departement", "epci", "population"]
    search_fields = ["name", "code"]
    list_select_related = ["departement", "epci"]
    raw_id_fields = ["epci"]


@admin.register(ProjectTerritory)
class ProjectTerritoryAdmin(ReadOnly):
    list_display = ["code", "name", "region"]
    filter_horizontal = ["epcis"]
    raw_id_fields = ["communes"]
