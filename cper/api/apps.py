"""The API app. After every `migrate` it makes sure the database cache table exists."""

from typing import Any

from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def _create_cache_table(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # The default cache is a table of the database (settings, "shared stores"); creating it on
    # every migrate (a no-op when it exists) covers a new database, the test databases, and a
    # switch from Redis back to the database, which a one-off migration would not.
    call_command("createcachetable", database=using, verbosity=0)


class ApiConfig(AppConfig):
    name = "cper.api"
    label = "cper_api"
    verbose_name = "API"

    def ready(self) -> None:
        post_migrate.connect(_create_cache_table, sender=self)
