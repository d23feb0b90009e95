from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    name = "cper.forecasts"
    verbose_name = "Prévisions"
