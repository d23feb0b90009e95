"""`cper geo load`: (re)load the reference geography shipped with the application."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cper.audit.services import Actor
from cper.territories.services import geography_load


class Command(BaseCommand):
    help = "Géographie de référence : `cper geo load` charge régions, départements, EPCI, communes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["load"])

    def handle(self, *args: Any, **options: Any) -> None:
        report = geography_load(actor=Actor.cli(), progress=lambda m: self.stdout.write(f"  {m}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Géographie chargée : {report.regions} régions, {report.departements} "
                f"départements, {report.epcis} EPCI, {report.communes} communes."
            )
        )
