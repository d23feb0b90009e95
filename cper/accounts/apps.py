from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cper.accounts"
    verbose_name = "Comptes et droits"
