"""API tokens in the admin: seen and revoked by administrators (never created there, never
shown: only their first characters are stored in clear)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from cper.api.models import ApiToken
from cper.api.services import token_revoke
from cper.audit.models import Via
from cper.audit.services import Actor


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("digest",)
    actions = ["revoke"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    @admin.action(description="Révoquer les jetons choisis")
    def revoke(self, request: Any, queryset: Any) -> None:
        actor = Actor(user=request.user, via=Via.ADMIN)
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            token_revoke(user=token.user, token_id=token.pk, actor=actor)
        self.message_user(request, f"{len(tokens)} jeton(s) révoqué(s).")
