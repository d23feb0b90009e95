from django.apps import AppConfig


class IndicatorsConfig(AppConfig):
    name = "cper.indicators"
    verbose_name = "Indicateurs"
