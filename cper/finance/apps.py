from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "cper.finance"
    verbose_name = "Exécution financière"
