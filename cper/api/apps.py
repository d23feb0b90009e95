from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "cper.api"
    label = "cper_api"
    verbose_name = "API"
