from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from cper.accounts.models import Organisation, User


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "siren"]
    search_fields = ["name", "code", "siren"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "organisation", "role", "is_staff"]
    list_filter = ["role", "organisation"]
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("CPER", {"fields": ("organisation", "role")}))
