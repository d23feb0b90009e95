"""Page times next to the aggregation time they rest on: `python -m bench.pages [--runs N]`.

Renders each dashboard page with Django's test client against the current database (the
benchmark's, e.g. after `cper demo --scale M`), and prints a Markdown table: median page time,
SQL queries per page, and the median time of the page's main `execution(...)` call alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLUG = "hauts-de-france-2021-2027"


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up (map outlines, caches)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from cper.contracts.models import Contract
    from cper.finance import aggregation

    contract = Contract.objects.get(slug=SLUG)
    base = f"/contrats/{SLUG}"
    pages = [
        ("tableau de bord", f"{base}/tableau-de-bord/", ("axis",), {}),
        ("tableau de bord, Nord", f"{base}/tableau-de-bord/?departement=59", ("axis",),
         {"departement": "59"}),
        ("axe 2", f"{base}/axes/2/", ("objective",), {"axis": 2}),
        ("partenaire État", f"{base}/partenaires/etat/", ("axis",), {"partner": "etat"}),
        ("carte par département", f"{base}/territoires/", ("departement",), {}),
        ("carte par EPCI", f"{base}/territoires/?niveau=epci", ("epci",), {}),
        ("emploi et formation", f"{base}/emploi-formation-orientation/", ("axis",),
         {"marker": "emploi-formation-orientation"}),
    ]  # fmt: skip
    client = Client()
    print("| page | page (ms) | requêtes SQL | appel principal execution(...) (ms) |")
    print("|---|---:|---:|---:|")
    for name, url, group_by, filters in pages:
        connection.queries_log.clear()  # a full log (maxlen) would count nothing
        with CaptureQueriesContext(connection) as ctx:
            status = client.get(url).status_code
        assert status == 200, (url, status)
        page_ms = _median_ms(lambda u=url: client.get(u), args.runs)
        service_ms = _median_ms(
            lambda g=group_by, f=filters: aggregation.execution(
                contract=contract, group_by=g, filters=f
            ),
            args.runs,
        )
        print(f"| {name} | {page_ms:.0f} | {len(ctx.captured_queries)} | {service_ms:.0f} |")


if __name__ == "__main__":
    main()
