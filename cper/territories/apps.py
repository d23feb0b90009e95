from django.apps import AppConfig


class TerritoriesConfig(AppConfig):
    name = "cper.territories"
    verbose_name = "Territoires"
