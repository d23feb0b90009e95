"""`cper worker [--once] [--max-tasks N] [--interval S] [--queue NOM] [--no-purge]`: runs the
background jobs (large imports, the daily purge of uploaded files) from the database queue.

A thin front to django-tasks-db's `db_worker`, with the defaults a server wants: no reloading
on code changes (whatever DEBUG says), the `default` queue, an id naming its host and process,
and when it starts: the imports of a worker of this host that died mid-job ended « échec »
(`cper.io.tasks.recover_interrupted`), the daily purge of uploads scheduled. Run one or more
under systemd (docs/io.md); stop one with SIGTERM: it finishes the job it runs, then exits (a
second signal interrupts the job, whose import ends « échec »).
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from cper.io.tasks import recover_interrupted, schedule_purge, worker_id


class Command(BaseCommand):
    help = "Exécuter les tâches en arrière-plan (imports volumineux, purge des fichiers importés)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="exécuter les tâches en attente puis s'arrêter (au lieu d'attendre les suivantes)",
        )
        parser.add_argument("--max-tasks", type=int, default=None, help="s'arrêter après N tâches")
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="secondes entre deux recherches de tâche quand la file est vide (défaut : 1)",
        )
        parser.add_argument("--queue", default="default", help="file à traiter (défaut : default)")
        parser.add_argument(
            "--no-purge",
            action="store_true",
            help="ne pas programmer la purge quotidienne des fichiers importés",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        own = worker_id()
        for pk in recover_interrupted(own=own):
            self.stderr.write(f"Import {pk} interrompu par l'arrêt brutal d'un worker : en échec.")
        if not options["no_purge"] and schedule_purge():
            self.stdout.write("Purge quotidienne des fichiers importés programmée.")
        call_command(
            "db_worker",
            queue_name=options["queue"],
            interval=options["interval"],
            batch=options["once"],
            max_tasks=options["max_tasks"],
            reload=False,
            worker_id=own,
            startup_delay=not options["once"],
            verbosity=options["verbosity"],
            stdout=self.stdout,
            stderr=self.stderr,
        )
