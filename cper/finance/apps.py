from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "cper.finance"
    verbose_name = "Exécution financière"

    def ready(self) -> None:
        from . import rules  # noqa: F401  (registers the ledger's consistency checks)
