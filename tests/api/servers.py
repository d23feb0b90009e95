"""A real multi-process server for the tests of what worker processes must share: gunicorn with
several workers on a free port, on a copy of the test database.

The copy: on SQLite the test database lives in memory, so it is backed up to a file; on
PostgreSQL a new database is created from the test database as a template. Either way it holds
the schema and the reference data already loaded, and is removed afterwards.
`python -m tests.api.servers seed` (run against the copy) creates the account and the token the
test uses and prints the token.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USERNAME = "limite"
PASSWORD = "le-bon-mot-de-passe-du-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database_copy(folder: Path) -> Iterator[str]:
    """A DATABASE_URL for a copy of the current test database (committed content)."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        target = folder / "cper.sqlite3"
        connection.ensure_connection()
        copy = sqlite3.connect(target)
        connection.connection.backup(copy)
        copy.close()
        yield f"sqlite:///{target}"
        return
    import psycopg

    name = f"{settings['NAME']}_servers"
    admin = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "user": settings["USER"],
        "password": settings["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    connection.close()  # a template database must have no other session
    with psycopg.connect(**admin) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{name}"')
        pg.execute(f'CREATE DATABASE "{name}" TEMPLATE "{settings["NAME"]}"')
    try:
        user = settings["USER"]
        password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
        yield f"postgresql://{user}{password}@{admin['host']}:{admin['port']}/{name}"
    finally:
        with psycopg.connect(**admin) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database_url: str, folder: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CPER_VAR_DIR": str(folder),
        "DJANGO_SETTINGS_MODULE": "cper.settings",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "cle-des-tests-de-serveurs-" + "x" * 40,
        "CPER_HTTPS": "0",
        "CPER_STATIC_MANIFEST": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def seed(env: dict[str, str]) -> str:
    """Create the test's account and token in the copy; the token."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.api.servers", "seed"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def gunicorn(env: dict[str, str], folder: Path, workers: int = 3) -> Iterator[str]:
    """`gunicorn cper.wsgi -w N` on a free port; its base URL. The log is in folder/server.log."""
    port = free_port()
    log_path = folder / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "cper.wsgi:application"),
            *("-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "60"),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text()) from None
                time.sleep(0.3)
        # Every worker booted (the first answer may come before the last one is up).
        while log_path.read_text().count("Booting worker") < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text())
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _seed() -> None:
    import django

    django.setup()
    from cper.accounts.models import Role
    from cper.accounts.services import UserDraft, users_create
    from cper.api.services import token_create
    from cper.audit.services import Actor

    (user,) = users_create(
        actor=Actor.system(),
        drafts=[UserDraft(username=USERNAME, password=PASSWORD, role=Role.OBSERVER)],
    )
    print(token_create(user=user, name="serveurs").raw)


if __name__ == "__main__":
    if sys.argv[1:] == ["seed"]:
        _seed()
    else:
        raise SystemExit("usage : python -m tests.api.servers seed")
