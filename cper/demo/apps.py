from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "cper.demo"
    verbose_name = "Données de démonstration"
