"""The dashboard's alert « programmées sans engagement depuis 12 mois » asks the database for the
rows it shows: the same operations, amounts and count as the aggregation service grouped by
operation (the way the alert was computed before), under every filter and date."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.finance import aggregation
from cper.finance.selectors import stale_programmed_operations
from cper.web.alerts import months_before
from tests.finance import factories as F

SLUG = "hauts-de-france-2021-2027"
MARKER = "emploi-formation-orientation"
COMMUNES = ["59350", "62041", "02408", "80021", "60057"]
PARTNERS = ["etat", "region", "dep-59", None]


def reference(contract, as_of, filters, limit):  # type: ignore[no-untyped-def]
    """The alert as the service answers it: every operation in « programmed », then those
    already programmed 12 months before, largest first."""
    then = months_before(as_of, 12)
    base = {**filters, "status": "programmed"}
    now = aggregation.execution(
        contract=contract, as_of=as_of, group_by=("operation",), filters=base
    )
    idle = [r for r in now.rows if r.programmed and not r.committed]
    before = aggregation.execution(
        contract=contract,
        as_of=then,
        group_by=("operation",),
        filters={**base, "operation": [r.key["operation"] for r in idle]},
    )
    kept = {r.key["operation"] for r in before.rows if r.programmed}
    stale = sorted(
        (r for r in idle if r.key["operation"] in kept),
        key=lambda r: (-r.programmed, r.key["operation"]),
    )
    return [(r.key["operation"], r.labels["operation"], r.programmed) for r in stale[:limit]], len(
        stale
    )


@pytest.fixture
def register(hdf):  # type: ignore[no-untyped-def]
    """Forty operations in every status, programmed at various dates, some committed then
    decommitted (net zero), some committed after the past dates asked."""
    rng = random.Random(14)
    statuses = ["programmed"] * 5 + ["in_progress", "draft", "completed"]
    for i in range(40):
        op = F.operation(
            hdf,
            objective=rng.choice(["1.1", "2.1", "3.2"]),
            communes=(rng.choice(COMMUNES),),
            status=rng.choice(statuses),
            programmed_on=rng.choice([None, dt.date(2022, 3, 15), dt.date(2023, 9, 1)]),
            markers=(MARKER,) if i % 3 == 0 else (),
            code=f"A-{i:03d}",
        )
        for _ in range(rng.randint(1, 3)):
            partner = rng.choice(PARTNERS)
            # equal amounts on purpose: ties are broken by the operation's number
            ln = F.line(op, partner, rng.choice(["100000.00", "250000.00", "250000.00"]))
            if partner is None or op.status not in ("programmed", "in_progress"):
                continue
            roll = rng.random()
            if roll < 0.25:
                F.record(ln, "commitment", dt.date(2024, 2, 1), "50000.00")
            elif roll < 0.4:
                F.record(ln, "commitment", dt.date(2022, 6, 1), "40000.00")
                F.record(ln, "decommitment", dt.date(2022, 7, 1), "40000.00")
    return hdf


CASES = [
    ({}, None),
    ({}, dt.date(2023, 12, 31)),
    ({}, dt.date(2024, 6, 15)),
    ({}, dt.date(2022, 6, 15)),
    ({"departement": "59"}, None),
    ({"departement": "59"}, dt.date(2024, 1, 15)),
    ({"partner": "etat"}, dt.date(2024, 6, 15)),
    ({"marker": MARKER}, None),
    ({"axis": 2}, dt.date(2024, 3, 1)),
    ({"territory": "bassin-minier"}, None),
]


def test_the_alert_is_the_services_answer(register):  # type: ignore[no-untyped-def]
    for filters, day in CASES:
        as_of = day or dt.date.today()
        for limit in (3, 25):
            found = stale_programmed_operations(
                contract=register,
                as_of=as_of,
                programmed_by=months_before(as_of, 12),
                status="programmed",
                filters=filters,
                limit=limit,
            )
            expected, count = reference(register, as_of, filters, limit)
            got = [(r.key["operation"], r.labels["operation"], r.programmed) for r in found.rows]
            assert got == expected, (filters, as_of, limit)
            assert found.count == count, (filters, as_of, limit)
            assert all(r.committed == Decimal("0.00") for r in found.rows)


def test_the_register_has_stale_operations_to_list(register):  # type: ignore[no-untyped-def]
    # the comparison above is not vacuous: several operations are listed, some tied
    _, count = reference(register, dt.date(2024, 6, 15), {}, 25)
    assert count >= 4


def test_the_page_lists_the_largest_and_says_how_many(client, register):  # type: ignore[no-untyped-def]
    from cper.accounts.models import Role, User

    client.force_login(User.objects.create_user("alerts-observer", role=Role.OBSERVER))
    expected, count = reference(register, dt.date(2024, 6, 15), {}, 25)
    html = client.get(
        reverse("web:dashboard", kwargs={"slug": SLUG}), {"date": "2024-06-15"}
    ).content.decode()
    assert f"Opérations programmées sans engagement depuis 12 mois : {count}" in html
    for code, _, _ in expected:
        assert code in html


def _waiting(hdf, n: int, start: int) -> None:  # type: ignore[no-untyped-def]
    """Operations programmed long ago and never committed: every one is in the alert."""
    for i in range(start, start + n):
        op = F.operation(hdf, objective="2.1", communes=(COMMUNES[i % 5],), code=f"N-{i:04d}")
        F.line(op, "etat", f"{100000 + i}.00")


def test_the_dashboard_reads_as_many_queries_with_10_and_200_operations(client, hdf):  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cper.accounts.models import Role, User

    client.force_login(User.objects.create_user("alerts-counter", role=Role.OBSERVER))
    url = reverse("web:dashboard", kwargs={"slug": SLUG})
    queries = [{}, {"date": "2024-06-15"}, {"date": "2024-06-15", "departement": "59"}]

    def counts() -> list[int]:
        out = []
        for query in queries:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url, query).status_code == 200
            out.append(len(ctx.captured_queries))
        return out

    _waiting(hdf, 10, 0)
    counts()  # warm the per-process caches
    small = counts()
    _waiting(hdf, 190, 10)
    assert counts() == small
    html = client.get(url).content.decode()
    assert "Opérations programmées sans engagement depuis 12 mois : 200" in html
    assert "N-0199" in html and "N-0174" not in html  # the 25 largest only
