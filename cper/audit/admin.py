from django.contrib import admin

from cper.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the trail is appended by services, never edited."""

    list_display = ["at", "user", "via", "action", "subject_type", "subject_repr"]
    list_filter = ["via", "action", "subject_type"]
    search_fields = ["subject_repr", "message"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
