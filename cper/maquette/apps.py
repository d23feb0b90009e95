from django.apps import AppConfig


class MaquetteConfig(AppConfig):
    name = "cper.maquette"
    verbose_name = "Maquette financière"

    def ready(self) -> None:
        from . import rules  # noqa: F401  (registers the app's consistency checks)
