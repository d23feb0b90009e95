from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cper.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the trail is appended by services, never edited."""

    list_display = ["at", "user", "via", "action", "subject_type", "subject_repr"]
    list_filter = ["via", "action", "subject_type"]
    search_fields = ["subject_repr", "message"]
    list_select_related = ["user"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        # `User.can`: the audit app does not import accounts (accounts' services audit).
        user: Any = request.user
        return bool(user.is_staff) and user.can("audit.view")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
