"""`cper serve`: the production server (gunicorn running cper.wsgi).

Refuses to start with DEBUG off and no SECRET_KEY, or without the collected static files
(`cper collectstatic`, a deployment step: compressing and hashing every file takes minutes, too
long for each start; --collectstatic runs it first); warns if migrations are pending; then
becomes gunicorn (exec: same process id, so systemd's `kill -HUP $MAINPID` reloads it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from cper.server.checks import secret_key_problem

GUNICORN_CONFIG = "python:cper.server.gunicorn_conf"


class Command(BaseCommand):
    help = (
        "Sert cper en production (gunicorn, fichiers statiques par WhiteNoise). Variables : "
        "CPER_BIND, CPER_WORKERS ou WEB_CONCURRENCY, CPER_THREADS, CPER_TIMEOUT ; voir "
        "docs/deploiement.md. HUP : redémarrage en douceur."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", help="adresse:port (défaut : CPER_BIND ou 127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, help="processus (défaut : CPER_WORKERS)")
        parser.add_argument(
            "--collectstatic",
            action="store_true",
            help="lancer d'abord collectstatic (sinon : étape du déploiement)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        problem = secret_key_problem()
        if problem:
            raise CommandError(problem)
        if options["collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
        if settings.STATIC_MANIFEST and not manifest.exists():
            raise CommandError(
                f"Fichiers statiques non collectés ({manifest} absent) : lancez "
                "`cper collectstatic --noinput` (ou `cper serve --collectstatic`)."
            )
        pending = self._pending_migrations()
        if pending:
            self.stderr.write(
                f"Attention : {pending} migration(s) non appliquée(s) ; lancez `cper migrate` "
                "avant de servir (docs/deploiement.md, mise à jour)."
            )
        connections.close_all()
        if options["bind"]:
            os.environ["CPER_BIND"] = options["bind"]
        if options["workers"]:
            os.environ["CPER_WORKERS"] = str(options["workers"])
        argv = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_CONFIG]
        argv.append("cper.wsgi:application")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)

    @staticmethod
    def _pending_migrations() -> int:
        try:
            executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
            return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        except Exception as error:
            raise CommandError(f"La base de données ne répond pas : {error}") from error
