from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "cper.operations"
    verbose_name = "Opérations"
