"""An import outlives the web process that started it: on a file copy of the test database
(SQLite file or PostgreSQL database, tests/api/servers.py), two web processes (A and B, gunicorn)
and `cper worker` run as subprocesses. A register is uploaded on A, A is stopped, and B's status
page shows the worker's progress, then the finished simulation."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from cper.accounts.models import Role, User
from tests.api.servers import ROOT, database_copy, environment, gunicorn
from tests.conftest import HDF_SLUG, ensure_reference_data
from tests.io.conftest import csv_file
from tests.io.test_jobs import register
from tests.operations.factories import make_user

pytestmark = pytest.mark.xdist_group("servers")

ROWS = 2000  # several seconds of import, in four chunks of 500 rows
USERNAME = "jobs-serveurs"
PASSWORD = "motdepasse-de-test"  # tests.operations.factories.make_user's
PROGRESS = re.compile(r"Traitement en cours : (\d+) / (\d+) lignes")


def _login(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/connexion/", timeout=30)
    response = session.post(
        f"{base}/connexion/",
        data={
            "username": USERNAME,
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:2000]
    return session


def _worker(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    log = (folder / "worker.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "cper.cli", "worker", "--interval", "0.2"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _logs(folder: Path) -> str:
    return "\n".join(
        f"--- {p.relative_to(folder)}\n{p.read_text()[-3000:]}" for p in folder.rglob("*.log")
    )


@pytest.fixture(scope="module")
def servers(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """The copy of the test database (with the test's account), its folder, and a stack that
    stops every process started on it."""
    folder = tmp_path_factory.mktemp("jobs-servers")
    with django_db_blocker.unblock():
        ensure_reference_data()
        User.objects.filter(username=USERNAME).delete()
        user = make_user(Role.ADMINISTRATOR, username=USERNAME)
        try:
            with ExitStack() as stack:
                url = stack.enter_context(database_copy(folder))
                user.delete()  # the copy has it; the test database need not keep it
                yield stack, url, folder
        finally:
            User.objects.filter(username=USERNAME).delete()


# django_db: so that the test database is created (the servers run on a copy of it).
@pytest.mark.django_db
def test_an_import_started_on_one_web_process_finishes_in_the_worker_shown_by_another(
    servers: Any,
) -> None:
    _run(*servers)


def _run(stack: ExitStack, url: str, folder: Path) -> None:
    env = environment(url, folder, CPER_IMPORT_BACKGROUND_BYTES="1024")
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    worker = _worker(env, folder)
    stack.callback(_stop, worker)
    web_a = ExitStack()
    stack.push(web_a)
    base_a = web_a.enter_context(gunicorn(env, folder / "a", workers=1))
    base_b = stack.enter_context(gunicorn(env, folder / "b", workers=1))

    session = _login(base_a)
    data = csv_file(register(ROWS))
    started = time.monotonic()
    response = session.post(
        f"{base_a}/contrats/{HDF_SLUG}/donnees/import/",
        data={"kind": "operations", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"file": ("registre.csv", data, "text/csv")},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text[:2000]
    preview = response.headers["Location"]
    pk = int(re.search(r"/import/(\d+)/simulation/", preview)[1])  # type: ignore[index]
    web_a.close()  # web process A stops: the import is the worker's now

    status_url = f"{base_b}/contrats/{HDF_SLUG}/donnees/import/{pk}/etat/"
    seen: list[tuple[int, int]] = []
    page = ""
    while time.monotonic() - started < 120:
        page = session.get(status_url, timeout=30).text
        if match := PROGRESS.search(page):
            seen.append((int(match[1]), int(match[2])))
        if "hx-trigger" not in page:  # finished: the fragment stops polling
            break
        time.sleep(0.2)
    assert "Simulation" in page and f"{ROWS} ligne(s) lue(s)" in page, (page, _logs(folder))
    assert any(0 < done < ROWS for done, _ in seen), (seen, _logs(folder))
    assert all(total == ROWS for _, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    result = session.get(f"{base_b}{preview}", timeout=30).text
    assert "Confirmer et appliquer" in result
    assert re.search(rf'data-testid="count-1">{ROWS}<', result), result[-3000:]
    assert worker.poll() is None  # still waiting for the next job


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
