"""What worker processes must share, tested on a real server: gunicorn with 3 workers on a
copy of the test database (tests/api/servers.py). One token fires at a limit of 30 per minute
from many clients at once: at most 30 requests pass, whichever worker answers; a login locked
by wrong passwords sent to all workers stays locked on every worker."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.servers import PASSWORD, USERNAME, database_copy, environment, gunicorn, seed

# django_db: so that the test database is created (the servers run on a copy of it); the tests
# themselves only speak HTTP.
pytestmark = [pytest.mark.xdist_group("servers"), pytest.mark.django_db]

LIMIT = 30


@pytest.fixture(scope="module")
def server(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    folder: Path = tmp_path_factory.mktemp("servers")
    with django_db_blocker.unblock(), database_copy(folder) as url:
        env = environment(url, folder, CPER_API_RATE_TOKEN=f"{LIMIT}/min")
        token = seed(env)
        with gunicorn(env, folder, workers=3) as base:
            yield base, token, folder


def test_one_token_gets_at_most_its_limit_across_three_workers(server):
    base, token, folder = server

    def call(_: int) -> int:
        response = requests.get(
            f"{base}/api/v1/contracts", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(call, range(3 * LIMIT)))
    # Per-process counters would let each of the 3 workers accept up to 30.
    assert statuses == {200: LIMIT, 429: 2 * LIMIT}, (statuses, (folder / "server.log").read_text())
    refused = requests.get(
        f"{base}/api/v1/contracts", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert refused.status_code == 429 and refused.json()["code"] == "trop_de_requetes"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_a_login_locked_on_some_workers_is_locked_on_all(server):
    base, _, folder = server
    page = requests.get(f"{base}/connexion/", timeout=60)
    csrf = page.cookies["csrftoken"]
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    def login(password: str) -> requests.Response:
        return requests.post(
            f"{base}/connexion/",
            data={"username": USERNAME, "password": password, "csrfmiddlewaretoken": form_token},
            cookies={"csrftoken": csrf},
            allow_redirects=False,
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        wrong = Counter(r.status_code for r in pool.map(login, ["faux"] * 15))
    assert set(wrong) <= {200, 429} and wrong[429] >= 5, wrong
    # Every worker now refuses the right password, without hashing it.
    answers = [login(PASSWORD) for _ in range(6)]
    assert [r.status_code for r in answers] == [429] * 6, (folder / "server.log").read_text()
    assert "Connexion temporairement bloquée" in answers[0].text
