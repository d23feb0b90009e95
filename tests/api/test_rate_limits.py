"""Rate limits counted in the database (issue 15 item 7, issue 17 item 6), and the throttling of
invalid tokens (issue 15 item 5). Across several worker processes: tests/api/test_servers.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.test import Client

import cper.api.auth
from cper.api.models import RateCounter
from cper.api.ratelimit import counter_key, rate_hit, rate_peek
from cper.api.services import token_create
from tests.api.conftest import ApiClient, make_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_a_window_counts_every_hit_then_starts_again():
    key = counter_key("essai", "x")
    assert [rate_hit(key=key, period=60, now=1000 + i).hits for i in range(3)] == [1, 2, 3]
    window = rate_peek(key=key, period=60, now=1030)
    assert window is not None and window.hits == 3 and window.started == 1000
    assert window.retry_after(now=1030) == 30
    # The window opened at the first hit: 60 s later a new one begins.
    assert rate_hit(key=key, period=60, now=1060).hits == 1
    assert rate_peek(key=key, period=60, now=1200) is None
    assert RateCounter.objects.filter(key=key).count() == 1  # one row per key


def test_a_long_identifier_gets_a_key_that_fits():
    key = counter_key("anonymous", "1.2.3.4, " * 100)
    assert len(key) <= 200 and key.startswith("anonymous:sha256:")
    assert rate_hit(key=key, period=60).hits == 1


def test_the_token_limit_is_counted_in_the_database(hdf, settings):
    settings.CPER_API_RATE_TOKEN = "2/min"
    created = token_create(user=make_user(), name="a")
    client = ApiClient(created.raw)
    assert [client.get("/api/v1/contracts").status_code for _ in range(3)] == [200, 200, 429]
    # Not in a process's memory: the row every worker reads and increments.
    assert RateCounter.objects.get(key=f"token:{created.token.pk}").hits == 3


def test_repeated_invalid_tokens_from_one_address_are_refused_before_any_lookup(
    hdf, settings, monkeypatch
):
    settings.CPER_API_RATE_INVALID_TOKENS = "5/min"
    lookups: list[str] = []
    real = cper.api.auth.token_authenticate

    def counting(raw: str):  # type: ignore[no-untyped-def]
        lookups.append(raw)
        return real(raw)

    monkeypatch.setattr(cper.api.auth, "token_authenticate", counting)
    valid = token_create(user=make_user(), name="bon").raw
    guesser = Client(REMOTE_ADDR="10.0.0.66")
    statuses = [
        guesser.get("/api/v1/contracts", headers={"Authorization": f"Bearer cper_faux{i}"})
        for i in range(7)
    ]
    assert [r.status_code for r in statuses] == [401] * 5 + [429] * 2
    assert len(lookups) == 5  # the refused ones were neither hashed nor looked up
    refused = statuses[-1]
    assert refused.json()["code"] == "trop_de_jetons_invalides"
    assert "jetons invalides" in refused.json()["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    # The address is refused even with a valid token until the window ends; others are not.
    blocked = guesser.get("/api/v1/contracts", headers={"Authorization": f"Bearer {valid}"})
    assert blocked.status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.0.0.67")
    assert (
        elsewhere.get("/api/v1/contracts", headers={"Authorization": f"Bearer {valid}"}).status_code
        == 200
    )
    # Valid tokens are not counted as invalid ones.
    for _ in range(6):
        assert (
            elsewhere.get(
                "/api/v1/contracts", headers={"Authorization": f"Bearer {valid}"}
            ).status_code
            == 200
        )


def test_the_default_cache_is_a_table_that_migrate_creates():
    assert isinstance(caches["default"], DatabaseCache)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name('cper_cache')}")
    assert "cper_cache" not in connection.introspection.table_names()
    # What `cper migrate` does after the migrations (a database that never had the table).
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert "cper_cache" in connection.introspection.table_names()
    cache.set("cper-essai", {"a": 1}, 30)
    assert cache.get("cper-essai") == {"a": 1}


def _settings_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "cper.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_cache_address_that_cannot_work_stops_the_start_with_a_french_message():
    unknown = _settings_with({"CPER_CACHE_URL": "memcached://127.0.0.1:11211"})
    assert unknown.returncode != 0 and "CPER_CACHE_URL : adresse non reconnue" in unknown.stderr
    try:
        import redis  # noqa: F401
    except ImportError:
        redis_url = _settings_with({"CPER_CACHE_URL": "redis://127.0.0.1:6379/0"})
        assert redis_url.returncode != 0 and "paquet Python « redis »" in redis_url.stderr
