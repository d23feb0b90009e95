"""Closings and the report's commentary in the admin: read only. A closing is made by
`closing_create` (command, page) and never edited nor deleted; commentary versions are appended
on the closing's page."""

from __future__ import annotations

from django.contrib import admin

from cper.closings.models import Closing, ReportComment
from cper.readonly_admin import ReadOnlyAdmin


@admin.register(Closing)
class ClosingAdmin(ReadOnlyAdmin):
    list_display = ("id", "contract", "at", "label", "created_at", "created_by", "digest")
    list_filter = ("contract",)
    date_hierarchy = "at"
    exclude = ("figures",)  # a document of hundreds of rows: read it on the closing's page
    list_select_related = ("contract", "created_by")


@admin.register(ReportComment)
class ReportCommentAdmin(ReadOnlyAdmin):
    list_display = ("id", "closing", "axis", "author", "at")
    list_select_related = ("closing", "axis", "author")
