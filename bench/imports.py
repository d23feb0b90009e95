"""The spreadsheet import, measured on a scale's whole register, in one process.

    DATABASE_URL=… python -m bench.imports --scale M

Exports the register of the Hauts-de-France contract as the importer's CSV (long layout: one
row per financing line, with its operation's columns and status), imports it into a twin
contract through the services (the batch path of `cper.io.imports`, all or nothing, applied),
then inserts the same rows with a raw `bulk_create` (the floor of the cost), then re-imports the
file into its own contract as a dry run (every row unchanged); then, when the database holds
movements, imports the movements of the first `--movement-operations` operations into the twin
next to a raw `bulk_create` of the same movements. The twin and everything imported are rolled
back at the end. Prints one JSON document on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLUG = "hauts-de-france-2021-2027"


def fingerprint(contract: object) -> dict[str, str]:
    """A digest per part of a contract's register, comparable between two contracts (codes and
    values, never ids; transitions' dates left out — an import dates them when it runs)."""
    import hashlib

    from cper.operations.models import Decision, FinancingLine, Operation, OperationCommune

    parts = {
        "operations": Operation.objects.filter(contract=contract).values_list(
            "code",
            "title",
            "description",
            "status",
            "objective__code",
            "owner__name",
            "owner__siret",
            "owner__rna",
            "departement_id",
            "epci_id",
            "cost_ht",
            "cost_ttc",
            "cost_base",
            "start_date",
            "end_date",
        ),
        "communes": OperationCommune.objects.filter(operation__contract=contract).values_list(
            "operation__code", "commune_id", "position"
        ),
        "lines": FinancingLine.objects.filter(
            operation__contract=contract, status="active"
        ).values_list(
            "operation__code",
            "financer_kind",
            "partner__code",
            "financer_label",
            "amount",
            "objective__code",
            "contractualised",
            "budget_nature",
            "programme__code",
            "year",
            "external_ref",
        ),
        # The file carries the programming committee's date: the approving decisions (not the
        # agendas of committees to come, nor adjournments, which it does not hold).
        "decisions": Decision.objects.filter(
            operation__contract=contract, outcome="approved"
        ).values_list("operation__code", "committee__date", "outcome"),
    }
    return {
        name: hashlib.sha256(repr(sorted(rows, key=repr)).encode()).hexdigest()
        for name, rows in parts.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="S")
    parser.add_argument("--operations", type=int, default=None, help="default: all of them")
    parser.add_argument(
        "--movement-operations",
        type=int,
        default=2_000,
        help="the movements of this many operations are imported (all of scale S's)",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection, transaction

    from cper.audit.models import Via
    from cper.audit.services import Actor
    from cper.contracts.models import Contract
    from cper.finance.models import Movement
    from cper.io import writers
    from cper.io.bench import (
        BENCH_LIMITS,
        contract_twin,
        import_throughput,
        movements_import_throughput,
    )
    from cper.io.cli import OPERATOR
    from cper.io.exports import lines_sheet
    from cper.io.imports import import_operations

    source = Contract.objects.get(slug=SLUG)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            print(f"   import : {done:,} / {total:,} lignes", file=sys.stderr, flush=True)

    class Rollback(Exception):
        pass

    out: dict[str, object] = {"scale": args.scale, "vendor": connection.vendor}
    try:
        with transaction.atomic():
            twin = contract_twin(
                path=ROOT / "contracts" / "hauts-de-france-2021-2027.yaml", slug="bench-import"
            )
            out.update(
                import_throughput(
                    source=source, target=twin, operations=args.operations, progress=progress
                )
            )
            sheet = lines_sheet(source, user=OPERATOR, limit=args.operations)
            data = writers.csv_bytes(sheet)
            started = time.perf_counter()
            again = import_operations(
                actor=Actor(user=None, via=Via.CLI),
                contract=source,
                source=data,
                file_name="bench.csv",
                dry_run=True,
                progress=progress,
                limits=BENCH_LIMITS,
            )
            seconds = time.perf_counter() - started
            out["unchanged"] = again.unchanged
            out["reimport_seconds"] = round(seconds, 3)
            out["reimport_rows_per_s"] = round(again.rows_total / seconds, 1)
            out["operations"] = twin.operations.count()
            if args.operations is None:
                # The import reproduces the register: same operations, places, plans, decisions.
                out["identical"] = fingerprint(source) == fingerprint(twin)
            if Movement.objects.filter(financing_line__operation__contract=source).exists():
                # Then the commitments and payments of the first operations, into the twin that
                # now holds them (the batch path of `movements_record_many`).
                moved = movements_import_throughput(
                    source=source,
                    target=twin,
                    operations=args.movement_operations,
                    progress=progress,
                )
                out["movements"] = {**moved, "operations": args.movement_operations}
            raise Rollback
    except Rollback:
        pass
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
