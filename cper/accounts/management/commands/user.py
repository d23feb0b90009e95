"""`cper user locked` and `cper user unlock NAME [--address IP]`: the logins throttled after
repeated wrong passwords, and lifting a lock (see `cper.accounts.throttling`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cper.accounts.throttling import login_unlock, logins_failing
from cper.audit.services import Actor


class Command(BaseCommand):
    help = (
        "Connexions : locked (les échecs récents, par identifiant et adresse) | "
        "unlock IDENTIFIANT [--address IP] | unlock --address IP"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("locked", help="les échecs de connexion récents et les blocages en cours")
        unlock = sub.add_parser(
            "unlock", help="débloquer un compte (toutes adresses), une adresse, ou la paire"
        )
        unlock.add_argument("username", nargs="?", help="l'identifiant du compte")
        unlock.add_argument("--address", help="l'adresse IP bloquée")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "locked":
            self._locked()
            return
        username, address = options.get("username"), options.get("address")
        if not username and not address:
            raise CommandError("Indiquez un identifiant, une adresse (--address), ou les deux.")
        count = login_unlock(actor=Actor.cli(), username=username, address=address)
        who = " depuis ".join(
            part for part in (f"« {username} »" if username else "", address or "") if part
        )
        if count:
            self.stdout.write(
                f"Connexion débloquée pour {who} ({count} enregistrement(s) effacé(s))."
            )
        else:
            self.stdout.write(f"Aucun échec de connexion enregistré pour {who} : rien à débloquer.")

    def _locked(self) -> None:
        rows = logins_failing()
        if not rows:
            self.stdout.write("Aucun échec de connexion récent.")
            return
        for row in rows:
            state = "BLOQUÉ" if row.locked else "échecs"
            at = timezone.localtime(row.last_attempt).strftime("%d/%m/%Y %H:%M")
            self.stdout.write(
                f"{state:7} {row.username or '—':30} {row.address or '—':40} "
                f"{row.failures:4} échec(s), dernier le {at}"
            )
