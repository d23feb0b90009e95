"""`/sante`: is this process able to serve? For a load balancer, systemd or a supervision probe.

JSON: the database (a `SELECT 1`), the job queue (waiting tasks and the age of the oldest, when
the django-tasks database backend is installed; "absent" otherwise) and the version. 200 when
the database answers, 503 when it does not. No authentication, and nothing secret: no host, no
path, no error text (the error goes to the log).
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

from django.apps import apps
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def version() -> str:
    try:
        return metadata.version("cper")
    except metadata.PackageNotFoundError:
        return "inconnue"


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        log.exception("santé : la base de données ne répond pas")
        return "erreur"
    return "ok"


def queue_state() -> dict[str, Any] | str:
    if not apps.is_installed("django_tasks_db"):
        return "absent"
    # Imported here: the model exists only when the app is installed.
    from django.db.models import Min
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    try:
        # ready(): due now — not the daily purge scheduled for tomorrow.
        waiting = DBTaskResult.objects.ready()
        figures = waiting.aggregate(oldest=Min("enqueued_at"))
        count = waiting.count()
        running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).count()
    except Exception:
        log.exception("santé : la file des tâches ne répond pas")
        return "erreur"
    oldest = figures["oldest"]
    return {
        "en_attente": count,
        "en_cours": running,
        "attente_la_plus_ancienne_s": (
            round((timezone.now() - oldest).total_seconds()) if oldest else None
        ),
    }


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database = database_state()
    queue = queue_state() if database == "ok" else "inconnue"
    ok = database == "ok"
    return JsonResponse(
        {
            "statut": "ok" if ok else "erreur",
            "base_de_donnees": database,
            "file_des_taches": queue,
            "version": version(),
        },
        status=200 if ok else 503,
        json_dumps_params={"ensure_ascii": False},
    )
