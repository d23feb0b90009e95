"""Users and organisations in the admin: managed by administrators only (`user.manage`)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from cper.accounts.models import Organisation, User
from cper.accounts.permissions import can


class ManagedByAdministrators:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can(request.user, "user.manage")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request.user, "user.manage")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return can(request.user, "user.manage")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request.user, "user.manage")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Organisations carry partners (and so money): never deleted; users are deactivated.
        return False


@admin.register(Organisation)
class OrganisationAdmin(ManagedByAdministrators, admin.ModelAdmin):
    list_display = ["code", "name", "siren"]
    search_fields = ["name", "code", "siren"]


@admin.register(User)
class UserAdmin(ManagedByAdministrators, BaseUserAdmin):
    list_display = ["username", "email", "organisation", "role", "is_staff", "is_active"]
    list_filter = ["role", "organisation", "is_active"]
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("CPER", {"fields": ("organisation", "role")}))
    add_fieldsets = (
        *(BaseUserAdmin.add_fieldsets or ()),
        ("CPER", {"fields": ("organisation", "role")}),
    )
