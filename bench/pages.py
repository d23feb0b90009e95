"""The main pages through the full Django request cycle, next to the aggregation service's time
for the same question: `python -m bench.pages --scale M [--runs N]` on the database
DATABASE_URL points at (a generated benchmark database). Prints one JSON document on its last
line; `python -m bench --parts pages` runs it for each scale and database and writes the
section of docs/performance.md.

Each page is asked through Django's test client (URL routing, middleware, sessions, view,
templates: the server's whole work, without the network), logged in as the demo's observer
(who sees unpublished operations: the larger lists), once to warm up (its time is kept: the
first request of the process), then `runs` times: the median and the 95th percentile. The SQL
queries of that first request are counted. The service column times `aggregation.execution(…)`
alone for the page's main question (same filters and date), in the same process and run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLUG = "hauts-de-france-2021-2027"
PAST = "2024-06-15"
MARKER = "emploi-formation-orientation"
DASH = ("axis", "partner", "year")  # the dashboard's question, as bench.measure asks it

# Targets of issue 14 (scale M; twice these at L).
TARGET_MEDIAN_MS = 150
TARGET_P95_MS = 300
TARGET_SERVICE_RATIO = 5


def _quantiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered), p95


def _timed(fn: Callable[[], Any], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def pages(contract: Any, operation_pk: int, last_page: int) -> list[dict[str, Any]]:
    """The pages measured: name, URL, and the service question (group_by, filters, date)."""
    base = f"/contrats/{SLUG}"
    past = dt.date.fromisoformat(PAST)
    return [
        {"name": "accueil (redirige vers le tableau de bord)", "url": "/"},
        {"name": "le contrat", "url": f"{base}/"},
        {
            "name": "tableau de bord",
            "url": f"{base}/tableau-de-bord/",
            "service": {"group_by": DASH},
        },
        {
            "name": "tableau de bord, département 59",
            "url": f"{base}/tableau-de-bord/?departement=59",
            "service": {"group_by": DASH, "filters": {"departement": "59"}},
        },
        {
            "name": f"tableau de bord au {PAST}",
            "url": f"{base}/tableau-de-bord/?date={PAST}",
            "service": {"group_by": DASH, "as_of": past},
        },
        {
            "name": f"tableau de bord au {PAST}, département 59",
            "url": f"{base}/tableau-de-bord/?date={PAST}&departement=59",
            "service": {"group_by": DASH, "as_of": past, "filters": {"departement": "59"}},
        },
        {
            "name": "focus emploi et formation",
            "url": f"{base}/{MARKER}/",
            "service": {"group_by": ("axis",), "filters": {"marker": MARKER}},
        },
        {
            "name": "territoires (départements)",
            "url": f"{base}/territoires/",
            "service": {"group_by": ("departement",)},
        },
        {
            "name": "territoires (EPCI)",
            "url": f"{base}/territoires/?niveau=epci",
            "service": {"group_by": ("epci",)},
        },
        {"name": "maquette", "url": f"{base}/maquette/"},
        {"name": "maquette, écarts entre versions", "url": f"{base}/maquette/ecarts/"},
        {"name": "opérations, page 1", "url": f"{base}/operations/"},
        {
            "name": f"opérations, dernière page ({last_page})",
            "url": f"{base}/operations/?page={last_page}",
        },
        {"name": "opérations triées par montant", "url": f"{base}/operations/?order=-amount"},
        {
            "name": "opérations triées par montant, page 100",
            "url": f"{base}/operations/?order=-amount&page=100",
        },
        {"name": "opérations, recherche « Senlis »", "url": f"{base}/operations/?q=Senlis"},
        {"name": "opérations, recherche « chaleur »", "url": f"{base}/operations/?q=chaleur"},
        {"name": "une opération", "url": f"{base}/operations/{operation_pk}/"},
    ]


def export_timings(client: Any, contract: Any, viewer: Any) -> list[dict[str, Any]]:
    """The registers' exports as a user waits for them: each CSV through the page (a streaming
    response: time to its first bytes, and to its last), and the XLSX of the whole movements
    register prepared by its background job (the job's body, timed here, in this process)."""
    from django.conf import settings

    from cper.audit.models import Via
    from cper.audit.services import Actor
    from cper.io import tasks
    from cper.io.services import export_job_open

    base = f"/contrats/{SLUG}/donnees/export"
    out = []
    for kind in ("operations", "lines", "movements"):
        started = time.perf_counter()
        response = client.get(f"{base}/{kind}.csv", secure=True)
        stream = iter(response.streaming_content)
        size = len(next(stream))
        first = (time.perf_counter() - started) * 1000
        chunks = 1
        for chunk in stream:
            size += len(chunk)
            chunks += 1
        total = (time.perf_counter() - started) * 1000
        out.append(
            {
                "name": f"{kind}.csv (page, en flux)",
                "first_byte_ms": first,
                "total_ms": total,
                "bytes": size,
            }
        )
        print(f"[pages] {out[-1]}", file=sys.stderr, flush=True)
    for kind in ("operations", "movements"):
        job = export_job_open(
            actor=Actor(user=viewer, via=Via.WEB) if viewer else Actor.system(),
            contract=contract,
            kind=kind,
            fmt="xlsx",
            params={},
            rows_total=0,
            enqueue=lambda job_id: "banc",  # run here, not by a worker
        )
        started = time.perf_counter()
        tasks.run_export_now(str(job.pk))
        total = (time.perf_counter() - started) * 1000
        job.refresh_from_db()
        out.append(
            {
                "name": f"{kind}.xlsx (tâche en arrière-plan)",
                "first_byte_ms": None,
                "total_ms": total,
                "bytes": job.size,
                "rows": job.rows_done,
            }
        )
        print(f"[pages] {out[-1]}", file=sys.stderr, flush=True)
        stored = Path(settings.MEDIA_ROOT) / job.stored_path
        if job.stored_path and stored.is_file():  # the benchmark keeps no file
            stored.unlink()
            stored.parent.rmdir()
    return out


# The pages whose content `cper.web.figcache` keeps between requests: measured with and without.
CACHED = ("tableau de bord", "focus")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="S")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", default="", help="a part of the page names (quicker runs)")
    parser.add_argument("--no-exports", action="store_true", help="the pages only")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    call_command("migrate", "--noinput", verbosity=0)  # a database made by an older version
    logging.getLogger("cper.requests").setLevel(logging.WARNING)  # one line per request

    from cper.accounts.models import User
    from cper.contracts.models import Contract
    from cper.finance import aggregation
    from cper.operations.models import Operation

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # The pages name their static files; a benchmark database has no collected manifest (the
    # served files are not what is measured).
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
    contract = Contract.objects.get(slug=SLUG)
    ops = Operation.objects.filter(contract=contract)
    count = ops.count()
    middle = ops.order_by("code").values_list("pk", flat=True)[count // 2]
    client = Client()
    viewer = User.objects.filter(username="observateur").first()
    if viewer is not None:
        client.force_login(viewer)
    out = []
    for page in pages(contract, middle, max(1, -(-count // 50))):
        if args.only and args.only not in page["name"]:
            continue
        queries: list[str] = []

        def counted(execute: Any, sql: str, *rest: Any, log: list[str] = queries) -> Any:
            log.append(sql)
            return execute(sql, *rest)

        started = time.perf_counter()
        with connection.execute_wrapper(counted):
            status = client.get(page["url"], secure=True).status_code
        first = (time.perf_counter() - started) * 1000
        assert status in (200, 302), (page["url"], status)
        median, p95 = _quantiles(
            _timed(lambda u=page["url"]: client.get(u, secure=True), args.runs)
        )
        row = {
            "name": page["name"],
            "url": page["url"],
            "queries": len(queries),
            "first_ms": first,
            "p50_ms": median,
            "p95_ms": p95,
            "service_ms": None,
        }
        if page["name"].startswith(CACHED):
            # The same page with its content built on every request (cper.web.figcache off):
            # what the first visitor after a write waits for.
            kept = settings.CPER_FIGURES_CACHE_SECONDS
            settings.CPER_FIGURES_CACHE_SECONDS = 0
            row["p50_uncached_ms"], row["p95_uncached_ms"] = _quantiles(
                _timed(lambda u=page["url"]: client.get(u, secure=True), args.runs)
            )
            settings.CPER_FIGURES_CACHE_SECONDS = kept
        if question := page.get("service"):
            row["service_ms"] = statistics.median(
                _timed(lambda q=question: aggregation.execution(contract=contract, **q), args.runs)
            )
        print(f"[pages] {row}", file=sys.stderr, flush=True)
        out.append(row)
    exported = (
        export_timings(client, contract, viewer) if not (args.only or args.no_exports) else []
    )
    print(
        json.dumps(
            {
                "scale": args.scale,
                "vendor": connection.vendor,
                "runs": args.runs,
                "pages": out,
                "exports": exported,
            }
        )
    )


if __name__ == "__main__":
    main()
