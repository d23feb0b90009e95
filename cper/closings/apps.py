from django.apps import AppConfig


class ClosingsConfig(AppConfig):
    name = "cper.closings"
    verbose_name = "Arrêtés et rapports"
