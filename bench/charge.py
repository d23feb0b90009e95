"""The concurrent run « charge »: the production server (`cper serve`, gunicorn with several
workers) started on the database DATABASE_URL points at (a generated benchmark database), then
`bench.load` — N clients, each with its own keep-alive connection, loopback only — for a bounded
time on the dashboard, then on the API list endpoints. Prints one JSON document on its last
line; `python -m bench --parts charge` runs it for each scale and database and writes the
section « Charge » of docs/performance.md.

    DATABASE_URL=… python -m bench.charge --scale S [--clients 20] [--seconds 15] [--workers 3]

The dashboard is asked as an anonymous visitor (the public's figures: published operations);
the API with the token of an observer (who sees every operation), made for the run through the
accounts' and the API's services. The server runs with the API's rate limits raised
(`CPER_API_RATE_TOKEN`): a load run from one address is not an abuse to refuse.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLUG = "hauts-de-france-2021-2027"
OBSERVER = "banc-de-charge"

# Targets of issue 14 (20 clients on the dashboard, this 2-core machine).
TARGET_PER_SECOND = 20
TARGET_P95_MS = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token() -> str:
    """An API token of an observer, made through the services (the bench database only)."""
    import django

    django.setup()
    from cper.accounts.models import Role, User
    from cper.accounts.services import UserDraft, users_create
    from cper.api.services import token_create
    from cper.audit.services import Actor

    user = User.objects.filter(username=OBSERVER).first()
    if user is None:
        (user,) = users_create(
            actor=Actor.system(),
            drafts=[
                UserDraft(username=OBSERVER, password=os.urandom(16).hex(), role=Role.OBSERVER)
            ],
        )
    return str(token_create(user=user, name="banc de charge").raw)


def _serve(port: int, workers: int, log: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cper.settings",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "banc-de-charge-" + "x" * 50,
        "CPER_HTTPS": "0",
        "CPER_STATIC_MANIFEST": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CPER_API_RATE_TOKEN": "1000000/min",
        "CPER_API_RATE_ANONYMOUS": "1000000/min",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [
            *(sys.executable, "manage.py", "serve"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait(base: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the server answers (the warm-up of each phase then reaches every worker)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/sante", timeout=5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("le serveur ne répond pas (voir var/bench/charge.log)") from None
            time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="S")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    sys.path.insert(0, str(ROOT))
    from bench import load

    token = _token()
    from django.db import connection

    vendor = connection.vendor
    connection.close()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    contract = f"/contrats/{SLUG}"
    api = f"/api/v1/contracts/{SLUG}"
    phases = [
        {
            "name": "tableau de bord",
            "paths": [
                f"{contract}/tableau-de-bord/",
                f"{contract}/tableau-de-bord/?departement=59",
            ],
            "headers": {},
        },
        {
            "name": "API (listes, 1re page)",
            "paths": [
                f"{api}/operations?limit=50",
                f"{api}/movements?limit=50",
                f"{api}/financing-lines?limit=50",
            ],
            "headers": {"Authorization": f"Bearer {token}"},
        },
    ]
    log_path = ROOT / "var" / "bench" / "charge.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out: list[dict[str, Any]] = []
    with log_path.open("wb") as log:
        proc = _serve(port, args.workers, log)
        try:
            _wait(base, proc)
            for phase in phases:
                # warm-up: each worker's first requests (imports, caches), not measured
                load.run(
                    base,
                    phase["paths"],
                    clients=args.workers * 2,
                    seconds=3,
                    headers=phase["headers"],
                )
                result = load.run(
                    base,
                    phase["paths"],
                    clients=args.clients,
                    seconds=args.seconds,
                    headers=phase["headers"],
                )
                row = {
                    "name": phase["name"],
                    "paths": phase["paths"],
                    **result.summary(),
                    "statuses": {str(k): v for k, v in result.statuses.items()},
                    "failures": result.failures[:5],
                }
                print(f"[charge] {row}", file=sys.stderr, flush=True)
                out.append(row)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(
        json.dumps(
            {
                "scale": args.scale,
                "vendor": vendor,
                "workers": args.workers,
                "clients": args.clients,
                "seconds": args.seconds,
                "phases": out,
            }
        )
    )


if __name__ == "__main__":
    main()
