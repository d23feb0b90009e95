from django.apps import AppConfig


class IoConfig(AppConfig):
    name = "cper.io"
    label = "cper_io"
    verbose_name = "Imports et exports"
