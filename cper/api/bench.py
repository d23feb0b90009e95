"""Benchmark hook for `make bench`: latency of the API's list and aggregate endpoints.

    from cper.api.bench import api_latency
    figures = api_latency(slug="hauts-de-france-2021-2027", runs=50)

Calls the endpoints in process through Django's test client (URL routing, authentication with
a personal token, validation, the selectors or the aggregation service, JSON rendering — no
network), `runs` times each after one warm-up call, as an administrator (who sees every
operation). Returns, per endpoint, the median and the 95th percentile in milliseconds, and the
size of the answer. The token and its user are created in a transaction rolled back at the
end (nothing stays); the rate limit is lifted while it runs.
"""

from __future__ import annotations

import secrets
import statistics
import time
from typing import Any

from django.db import transaction
from django.test import Client, override_settings

from cper.accounts.models import Role
from cper.accounts.services import UserDraft, users_create
from cper.api.services import token_create
from cper.audit.services import Actor

# (name, path under /api/v1/contracts/<slug>, query)
ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("operations, 1st page (50)", "/operations", {"limit": 50}),
    ("operations, Nord, programmed", "/operations", {"departement": "59", "status": "programmed"}),
    ("operations, 10th page (keyset)", "/operations", {"limit": 50, "_page": 10}),
    ("operations, 20th page (keyset)", "/operations", {"limit": 50, "_page": 20}),
    ("movements, 1st page (50)", "/movements", {"limit": 50}),
    ("movements, 20th page (keyset)", "/movements", {"limit": 50, "_page": 20}),
    ("financing lines, 1st page (50)", "/financing-lines", {"limit": 50}),
    ("financing lines, 20th page (keyset)", "/financing-lines", {"limit": 50, "_page": 20}),
    ("execution, total", "/execution", {}),
    ("execution, axis × partner", "/execution", {"group_by": ["axis", "partner"]}),
    ("execution, département × year", "/execution", {"group_by": ["departement", "year"]}),
    ("maquette, partner × objective", "/maquette", {}),
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def api_latency(*, slug: str, runs: int = 50) -> dict[str, dict[str, float | int]]:
    with transaction.atomic():
        out = _measure(slug=slug, runs=runs)
        transaction.set_rollback(True)
    return out


def _measure(*, slug: str, runs: int) -> dict[str, dict[str, float | int]]:
    # A throwaway administrator, rolled back with the rest of the measurement.
    (user,) = users_create(
        actor=Actor.system(),
        drafts=[
            UserDraft(
                username=f"bench-api-{secrets.token_hex(4)}",
                password=secrets.token_urlsafe(16),
                role=Role.ADMINISTRATOR,
            )
        ],
    )
    client = Client(
        headers={"Authorization": f"Bearer {token_create(user=user, name='bench').raw}"}
    )
    base = f"/api/v1/contracts/{slug}"
    out: dict[str, dict[str, float | int]] = {}
    with override_settings(CPER_API_RATE_TOKEN="1000000/min"):
        for name, path, query in ENDPOINTS:
            params = dict(query)
            pages = params.pop("_page", 1)
            if pages > 1:  # the cursor of page n, reached by following next_cursor
                for _ in range(pages - 1):
                    cursor = client.get(base + path, params, secure=True).json().get("next_cursor")
                    if not cursor:
                        break
                    params["cursor"] = cursor
            first = client.get(base + path, params, secure=True)
            if first.status_code == 404:
                continue  # an endpoint this installation does not have
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                response = client.get(base + path, params, secure=True)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (name, response.content[:300])
            out[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(_percentile(times, 0.95), 2),
                "bytes": len(first.content),
                "count": first.json().get("count", 0),
            }
    return out
