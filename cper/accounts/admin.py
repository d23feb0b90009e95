"""Users and organisations in the admin: managed by administrators only (`user.manage`).

The users' list also lifts login locks (« Débloquer la connexion »): the failures recorded by
the login throttling are forgotten (`cper.accounts.throttling`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from cper.accounts.models import Organisation, User
from cper.accounts.permissions import can
from cper.accounts.throttling import login_unlock
from cper.audit.models import Via
from cper.audit.services import Actor


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
    actions = ["unlock_login"]

    @admin.action(description="Débloquer la connexion (échecs de mot de passe oubliés)")
    def unlock_login(self, request: HttpRequest, queryset: Any) -> None:
        actor = Actor(user=request.user, via=Via.ADMIN)
        users = list(queryset)
        for user in users:
            login_unlock(actor=actor, username=user.username)
        self.message_user(request, f"Connexion débloquée pour {len(users)} utilisateur(s).")
