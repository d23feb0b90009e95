from django.apps import AppConfig


class BackupConfig(AppConfig):
    name = "cper.backup"
    label = "backup"
    verbose_name = "Sauvegarde et réversibilité"
