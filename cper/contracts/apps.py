from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "cper.contracts"
    verbose_name = "Contrats"

    def ready(self) -> None:
        from . import rules  # noqa: F401  (registers the app's consistency checks)
