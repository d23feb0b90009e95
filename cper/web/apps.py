from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "cper.web"
    verbose_name = "Pages web"
