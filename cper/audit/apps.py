from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "cper.audit"
    verbose_name = "Journal d'audit"
