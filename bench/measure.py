"""One benchmark measurement, in one process, on the database DATABASE_URL points at.

    DATABASE_URL=… python -m bench.measure --scale M --runs 9

Times each question through the service (`cper.finance.aggregation`), through plain SQL over
the raw rows on the same database, and through DuckDB over the same rows in memory; asserts
identical figures to the cent; then times recording payments and rebuilding the summaries,
and runs `cper contract check` and the whole-register exports in processes of their own (time
and peak memory). Prints one JSON document on its last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLUG = "hauts-de-france-2021-2027"
MARKER = "emploi-formation-orientation"
DEPARTEMENT = "59"
PAST = dt.date(2024, 6, 15)


def _timed(fn: Callable[[], Any], runs: int, warmup: bool = True) -> tuple[float, Any]:
    if warmup:
        fn()
    times = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def _cents(value: Any) -> int:
    return int((value * 100).to_integral_value())


def _rows(result: Any, keys: tuple[str, ...]) -> dict[tuple, tuple[int, int, int]]:
    out = {}
    for r in result.rows:
        vals = (_cents(r.programmed), _cents(r.committed), _cents(r.paid))
        if any(vals):
            out[tuple(r.key[k] for k in keys)] = vals
    return out


def _cumulative(monthly: dict[tuple, tuple[int, int, int]], months: list[dt.date]) -> list:
    c = p = 0
    out = []
    for m in months:
        vals = monthly.get((m,), (0, 0, 0))
        c += vals[1]
        p += vals[2]
        out.append((m, c, p))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="S")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--raw-runs", type=int, default=3)
    parser.add_argument("--payments", type=int, default=30)
    parser.add_argument("--rebuilds", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", "--noinput", verbosity=0)  # a database made by an older version

    from bench import rawsql
    from cper.audit.services import Actor
    from cper.contracts.models import Contract
    from cper.finance import aggregation, services, summaries
    from cper.finance.models import ExecutionCell, LineState, Movement
    from cper.operations.models import FinancingLine, Operation

    contract = Contract.objects.get(slug=SLUG)
    vendor = connection.vendor
    today = dt.date.today()
    # first, rebuild the summaries with the code under test (timed)
    rebuilds = []
    for _ in range(args.rebuilds):
        started = time.perf_counter()
        summaries.rebuild(contract)
        rebuilds.append(time.perf_counter() - started)
    counts = {
        "operations": Operation.objects.filter(contract=contract).count(),
        "lines": FinancingLine.objects.filter(operation__contract=contract).count(),
        "movements": Movement.objects.count(),
        "cells": ExecutionCell.objects.filter(contract=contract).count(),
    }
    print(f"[{vendor}] {counts}", file=sys.stderr)
    duck = rawsql.duckdb_load(connection, ROOT / "var" / "bench" / f"duck-{args.scale}-{vendor}")
    cursor = connection.cursor()

    # the operations page: through the operations selector when installed
    try:
        from cper.accounts.models import User
        from cper.operations.selectors import operation_list

        admin = User(username="bench", role="administrator", is_superuser=True, is_active=True)

        def page_codes() -> list[str]:
            page = operation_list(contract=contract, user=admin, page=1, limit=50)
            return [o.code for o in page.items]

        selector = "cper.operations.selectors.operation_list"
    except ImportError:  # pragma: no cover

        def page_codes() -> list[str]:
            return list(
                Operation.objects.filter(contract=contract)
                .order_by("code")
                .values_list("code", flat=True)[:50]
            )

        selector = "les 50 premières opérations par numéro"
    codes = page_codes()

    def operations_page() -> Any:
        return aggregation.execution(
            contract=contract, group_by=("operation",), filters={"operation": page_codes()}
        )

    dash = ("axis", "partner", "year")
    cases: list[dict[str, Any]] = [
        {
            "name": "tableau de bord (axe × partenaire × année)",
            "service": lambda: aggregation.execution(contract=contract, group_by=dash),
            "keys": dash,
            "raw": {"keys": dash, "as_of": today},
        },
        {
            "name": f"idem, filtré département {DEPARTEMENT}",
            "service": lambda: aggregation.execution(
                contract=contract, group_by=dash, filters={"departement": DEPARTEMENT}
            ),
            "keys": dash,
            "raw": {"keys": dash, "as_of": today, "departement": DEPARTEMENT},
        },
        {
            "name": "idem, filtré marqueur emploi-formation",
            "service": lambda: aggregation.execution(
                contract=contract, group_by=dash, filters={"marker": MARKER}
            ),
            "keys": dash,
            "raw": {"keys": dash, "as_of": today, "marker": MARKER},
        },
        {
            "name": "série mensuelle cumulée",
            "service": lambda: aggregation.execution_series(contract=contract),
            "keys": ("month",),
            "raw": {"keys": ("month",), "as_of": today},
            "series": True,
        },
        {
            "name": "page de la liste des opérations (50)",
            "service": operations_page,
            "keys": ("operation",),
            "raw": {"keys": ("operation",), "as_of": today, "operation_codes": codes},
        },
        {
            "name": f"tableau de bord au {PAST:%d/%m/%Y}",
            "service": lambda: aggregation.execution(contract=contract, group_by=dash, as_of=PAST),
            "keys": dash,
            "raw": {"keys": dash, "as_of": PAST},
        },
    ]
    results = []
    for case in cases:
        raw_kwargs = {**case["raw"], "contract_id": contract.pk}
        service_ms, service_result = _timed(case["service"], args.runs)
        raw_ms, raw_result = _timed(
            lambda kw=raw_kwargs: rawsql.run_sql(cursor, vendor, **kw), args.raw_runs, False
        )
        duck_ms, duck_result = _timed(
            lambda kw=raw_kwargs: rawsql.run_duckdb(duck, **kw), max(3, args.raw_runs)
        )
        if case.get("series"):
            months = [p.month for p in service_result]
            got = [(p.month, _cents(p.committed), _cents(p.paid)) for p in service_result]
            raw_cmp = _cumulative(raw_result, months)
            duck_cmp = _cumulative(duck_result, months)
            # movements before the first point are folded into it by the service
            equal = got == raw_cmp and got == duck_cmp
        else:
            got = _rows(service_result, case["keys"])
            equal = got == raw_result == duck_result
        if not equal:
            print(f"DIFFERENT FIGURES for {case['name']}", file=sys.stderr)
            if not case.get("series"):
                for k in sorted(set(got) | set(raw_result), key=str)[:20]:
                    if got.get(k) != raw_result.get(k) or got.get(k) != duck_result.get(k):
                        print(k, got.get(k), raw_result.get(k), duck_result.get(k), file=sys.stderr)
        results.append(
            {
                "name": case["name"],
                "service_ms": service_ms,
                "raw_ms": raw_ms,
                "duckdb_ms": duck_ms,
                "identical": equal,
            }
        )
        print(f"[{vendor}] {results[-1]}", file=sys.stderr)

    # recording a payment (with its summary update), on lines with something left to pay, by
    # an administrator through a page (permission checked) when the demo created one
    from cper.accounts.models import User as Account

    admin_user = Account.objects.filter(username="admin").first()
    actor = Actor(user=admin_user, via="web") if admin_user else Actor.system()
    candidates = list(
        LineState.objects.filter(contract=contract, counted=True, programmed__gt=0)
        .extra(where=["committed - paid >= 100"])
        .values_list("pk", flat=True)[: args.payments + 1]
    )
    times = []
    for i, line_id in enumerate(candidates):
        started = time.perf_counter()
        services.payment_record(
            actor=actor,
            financing_line=line_id,
            date=today,
            amount="0.01",
            reference=f"BENCH-{time.time_ns()}-{i}",
        )
        if i:  # the first one warms up
            times.append(time.perf_counter() - started)
    payment_ms = statistics.median(times) * 1000 if times else None

    verify_started = time.perf_counter()
    problems = summaries.verify(contract, limit=5)
    verify_s = time.perf_counter() - verify_started
    check = _contract_check()
    exported = _exports()

    # The API's list and aggregate endpoints, in process (routing, token, JSON), next to the
    # service's own time for the same question.
    from cper.api.bench import api_latency

    api = api_latency(slug=SLUG, runs=max(5, args.runs))

    versions = {"vendor": vendor}
    if vendor == "postgresql":
        cursor.execute("SHOW server_version")
        versions["server"] = cursor.fetchone()[0]
    else:
        import sqlite3

        versions["server"] = sqlite3.sqlite_version
    out = {
        "scale": args.scale,
        "vendor": vendor,
        "versions": versions,
        "counts": counts,
        "selector": selector,
        "cases": results,
        "payment_ms": payment_ms,
        "api": api,
        "rebuild_s": statistics.median(rebuilds),
        "verify_s": verify_s,
        "verify_ok": not problems,
        "check_s": check[0],
        "check_mb": check[1],
        "exports": exported,
        "runs": args.runs,
        "raw_runs": args.raw_runs,
    }
    print(json.dumps(out, default=str))


def _cli(*args: str) -> tuple[float, float]:
    """A `cper` command as the operator runs it, in a process of its own: (seconds, peak
    resident memory in MB, the command's own as `bench.peak` reads it)."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bench.peak", *args],
            cwd=ROOT,
            env={**os.environ, "CPER_PEAK_FILE": peak.name},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        seconds = time.perf_counter() - started
        kb = int(Path(peak.name).read_text() or 0)
    return round(seconds, 1), round(kb / 1024, 0)


def _contract_check() -> tuple[float, float]:
    """`cper contract check` in a process of its own: (seconds, peak MB)."""
    return _cli("contract", "check", SLUG)


# The exports of a whole register people download (issue 14: memory ≤ 300 MB for any export),
# each by `cper export` in a process of its own. The movements' XLSX (7 min 43 s at M) is left
# out of the bench: its memory is that of the operations' XLSX, the same writer.
EXPORTS = (
    ("operations", "csv"),
    ("lines", "csv"),
    ("movements", "csv"),
    ("operations", "xlsx"),
    ("scdl", "csv"),
)


def _exports() -> list[dict[str, object]]:
    """Each of `EXPORTS`: seconds, peak memory (MB) and the file's size (MB)."""
    import tempfile

    out: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for what, fmt in EXPORTS:
            path = Path(tmp) / f"{what}.{fmt}"
            seconds, peak = _cli("export", what, SLUG, "--output", str(path))
            size = path.stat().st_size / 1e6 if path.exists() else None
            out.append(
                {"what": f"{what}.{fmt}", "seconds": seconds, "peak_mb": peak, "size_mb": size}
            )
            path.unlink(missing_ok=True)
    return out


if __name__ == "__main__":
    main()
