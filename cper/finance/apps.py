from django.apps import AppConfig

from cper.operations.execution import provide


class FinanceConfig(AppConfig):
    name = "cper.finance"
    verbose_name = "Exécution financière"

    def ready(self) -> None:
        from . import rules  # noqa: F401  (registers the ledger's consistency checks)
        from .register_execution import FinanceExecution

        # What the register's services and rules ask of the execution (no app cycle: see
        # `cper.operations.execution`).
        provide(FinanceExecution())
