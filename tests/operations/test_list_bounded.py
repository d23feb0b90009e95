"""The operations list composes bounded work: the same number of queries with 10 and 200
operations (first page, deep page, sorted by amount, text search), the amount sort along the
maintained totals that follow every change of a line, and a text search counted once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cper.audit.services import Actor
from cper.finance import summaries
from cper.finance.models import OperationTotal
from cper.operations import selectors, services
from cper.operations.models import FinancingLine, LineStatus, Operation
from tests.operations.factories import make_line, make_operation

SYSTEM = Actor.system()
QUERIES = [
    {},
    {"page": "3"},
    {"order": "-amount"},
    {"order": "amount", "page": "2"},
    {"order": "title"},
    {"q": "friche"},
    {"q": "friche", "order": "-amount"},
    {"departement": "59", "order": "-amount"},
]


def _add(hdf, n: int, start: int = 0) -> None:  # type: ignore[no-untyped-def]
    for i in range(start, start + n):
        op = make_operation(
            hdf,
            code=f"L-{i:04d}",
            title=f"Friche {i}" if i % 4 == 0 else f"Gymnase {i}",
            communes=("59350",) if i % 2 else ("80021",),
        )
        make_line(op, "etat", f"{1000 + (i * 37) % 500}.00")
        if i % 3 == 0:
            make_line(op, "region", "250.50")


def _counts(client, hdf) -> list[int]:  # type: ignore[no-untyped-def]
    out = []
    for query in QUERIES:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("operations:list", args=[hdf.slug]), query)
        assert response.status_code == 200
        out.append(len(ctx.captured_queries))
    return out


def test_the_list_reads_as_many_queries_with_10_and_200_operations(client, hdf, users):  # type: ignore[no-untyped-def]
    client.force_login(users["observer"])
    _add(hdf, 10)
    _counts(client, hdf)  # warm the per-process caches
    small = _counts(client, hdf)
    _add(hdf, 190, start=10)
    assert _counts(client, hdf) == small


def _expected_order(hdf, desc: bool = True) -> list[tuple[str, Decimal]]:  # type: ignore[no-untyped-def]
    totals = {o.pk: Decimal("0.00") for o in Operation.objects.filter(contract=hdf)}
    for line in FinancingLine.objects.filter(
        operation__contract=hdf, status=LineStatus.ACTIVE, contractualised=True
    ):
        totals[line.operation_id] += line.amount
    codes = dict(Operation.objects.filter(contract=hdf).values_list("pk", "code"))
    ranked = sorted(totals.items(), key=lambda kv: (kv[1], kv[0]), reverse=desc)
    return [(codes[pk], amount) for pk, amount in ranked]


def _listed(hdf, users, order: str, limit: int = 200) -> list[tuple[str, Decimal]]:  # type: ignore[no-untyped-def]
    page = selectors.operation_list(contract=hdf, user=users["observer"], order=order, limit=limit)
    return [(o.code, o.contractualised_total) for o in page.items]


def test_the_amount_sort_follows_every_change_of_a_line(hdf, users, actors):  # type: ignore[no-untyped-def]
    _add(hdf, 12)
    assert selectors._totals_kept(hdf)
    assert _listed(hdf, users, "-amount") == _expected_order(hdf)
    first = FinancingLine.objects.get(operation__code="L-0003", partner__code="etat")
    services.financing_line_update(actor=actors["admin"], line=first, amount=Decimal("99999.99"))
    second = FinancingLine.objects.get(operation__code="L-0006", partner__code="region")
    services.financing_line_cancel(actor=actors["admin"], line=second, reason="doublon")
    # a line not contractualised does not count
    make_line(Operation.objects.get(code="L-0001"), None, "5000000.00")
    assert _listed(hdf, users, "-amount")[0] == ("L-0003", Decimal("100250.49"))  # + 250.50
    assert _listed(hdf, users, "-amount") == _expected_order(hdf)
    assert _listed(hdf, users, "amount") == _expected_order(hdf, desc=False)
    assert summaries.verify(hdf) == []


def test_a_new_operation_without_lines_is_listed_at_zero(hdf, users, actors):  # type: ignore[no-untyped-def]
    _add(hdf, 3)
    page = selectors.operation_list(contract=hdf, user=users["observer"], order="amount")
    assert all(o.contractualised_total > 0 for o in page.items)
    services.operation_create(
        actor=actors["instructor"],
        contract=hdf,
        code="L-ZERO",
        title="Étude préalable",
        owner=Operation.objects.get(code="L-0001").owner,
        objective=Operation.objects.get(code="L-0001").objective,
        communes=["80021"],
    )  # no line yet
    assert selectors._totals_kept(hdf)
    assert _listed(hdf, users, "amount")[0] == ("L-ZERO", Decimal("0.00"))


def test_without_the_kept_totals_the_sort_is_still_right(hdf, users):  # type: ignore[no-untyped-def]
    _add(hdf, 6)
    make_operation(hdf, code="L-BARE")  # written around the services: no total kept
    assert not selectors._totals_kept(hdf)
    assert _listed(hdf, users, "-amount") == _expected_order(hdf)
    assert summaries.verify(hdf)[0].what == "opération"  # `cper contract check` says so
    summaries.rebuild(hdf)
    assert selectors._totals_kept(hdf)
    assert _listed(hdf, users, "-amount") == _expected_order(hdf)


def test_deep_pages_and_ties_follow_the_number(hdf, users):  # type: ignore[no-untyped-def]
    _add(hdf, 30)
    codes = sorted(Operation.objects.filter(contract=hdf).values_list("code", flat=True))
    pages = [
        selectors.operation_list(contract=hdf, user=users["observer"], page=p, limit=7)
        for p in range(1, 6)
    ]
    assert [o.code for p in pages for o in p.items] == codes
    assert pages[-1].page == 5 and pages[-1].total == 30
    # equal titles: the number decides, the same on every page
    by_title = selectors.operation_list(contract=hdf, user=users["observer"], order="title")
    titles = [(o.title, o.code) for o in by_title.items]
    assert titles == sorted(titles)


def test_a_text_search_is_counted_once(hdf, users):  # type: ignore[no-untyped-def]
    _add(hdf, 20)
    with CaptureQueriesContext(connection) as ctx:
        page = selectors.operation_list(
            contract=hdf, user=users["observer"], filters={"q": "friche"}, limit=2
        )
    assert page.total == 5 and len(page.items) == 2
    assert [o.code for o in page.items] == ["L-0000", "L-0004"]
    scans = [q["sql"] for q in ctx.captured_queries if "LIKE" in q["sql"] and "title" in q["sql"]]
    assert len(scans) == 1
    # past the last page: the last page, with its count
    late = selectors.operation_list(
        contract=hdf, user=users["observer"], filters={"q": "friche"}, page=9, limit=2
    )
    assert late.page == 3 and [o.code for o in late.items] == ["L-0016"] and late.total == 5
    # by the owner's name too
    owner = Operation.objects.get(code="L-0001").owner
    found = selectors.operation_list(
        contract=hdf, user=users["observer"], filters={"q": owner.name.upper()}
    )
    assert [o.code for o in found.items] == ["L-0001"]


@pytest.mark.parametrize("vendor_only", ["postgresql"])
def test_postgresql_searches_along_trigram_indexes(hdf, vendor_only):  # type: ignore[no-untyped-def]
    if connection.vendor != vendor_only:
        pytest.skip("index trigrammes : PostgreSQL seulement")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname IN "
            "('operation_title_trgm', 'operation_code_trgm', 'owner_name_trgm')"
        )
        assert len(cursor.fetchall()) == 3
    assert OperationTotal.objects.count() == Operation.objects.count()
