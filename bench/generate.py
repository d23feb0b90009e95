"""Generate one benchmark database (the one DATABASE_URL points at), in one process.

    DATABASE_URL=… python -m bench.generate --scale M

Migrates, loads the geography and the Hauts-de-France contract, then runs `cper demo --scale`
when the demo command is installed; otherwise the benchmark's own bulk generator of operations
and lines (`bench.fixtures`) followed by `cper.finance.demo.movements_generate`. Prints one JSON
document (sizes and durations) on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contracts" / "hauts-de-france-2021-2027.yaml"
SLUG = "hauts-de-france-2021-2027"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="S")
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command, get_commands

    out: dict[str, object] = {"scale": args.scale}
    started = time.perf_counter()
    call_command("migrate", "--noinput", verbosity=0)
    call_command("geo", "load", verbosity=0) if "geo" in get_commands() else None
    call_command("contract", "load", str(CONTRACT), verbosity=0)
    out["setup_s"] = round(time.perf_counter() - started, 1)

    from cper.contracts.models import Contract

    contract = Contract.objects.get(slug=SLUG)
    started = time.perf_counter()
    if "demo" in get_commands():
        out["generator"] = "cper demo"
        call_command("demo", "--scale", args.scale)
    else:
        from bench.fixtures import operations_generate
        from cper.finance.demo import movements_generate

        out["generator"] = "bench.fixtures + cper.finance.demo.movements_generate"
        out.update(operations_generate(contract=contract, scale=args.scale, rng_seed=args.seed))
        out["register_s"] = round(time.perf_counter() - started, 1)
        report = movements_generate(
            contract=contract,
            rng_seed=args.seed,
            scale=args.scale,
            progress=lambda m: print(m, file=sys.stderr),
        )
        out["movements"] = report.movements
        out["movements_s"] = round(report.seconds, 1)
        out["rebuild_s"] = round(report.rebuild_seconds, 1)
    out["generate_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
