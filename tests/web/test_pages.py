"""The figures pages: every amount is the aggregation service's, every table exports what it
shows, and each page renders in a bounded number of SQL queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.finance import aggregation
from cper.money import format_meur

SLUG = "hauts-de-france-2021-2027"
AS_OF = "2025-06-30"


def url(name: str, **kwargs: object) -> str:
    return reverse(f"web:{name}", kwargs={"slug": SLUG, **kwargs})


# (page, URL arguments, most SQL queries): one service call per figure plus the filters'
# choices — measured 47 for the dashboard, 33 for the focus page, 15 to 25 for the others.
# The bounds keep some headroom because a cold process (outlines and label maps not yet
# cached) does a few more reads; what must never happen — queries growing with the number of
# operations — is pinned exactly by test_query_counts_do_not_grow_with_the_data.
PAGES = [
    ("dashboard", {}, 66),
    ("axis", {"number": 2}, 40),
    # The objective page also lists the objective's actions (third level of the structure).
    ("objective", {"code": "2.1"}, 42),
    ("partner", {"code": "etat"}, 40),
    # The public's figures add one cheap check per aggregation call (are there unpublished
    # lines with amounts?); the territories page asks the service once per map level.
    ("territories", {}, 48),
    ("departement", {"code": "59"}, 40),
    ("epci", {"siren": "200093201"}, 40),
    ("project_territory", {"code": "bassin-minier"}, 40),
    ("focus", {}, 45),
]


@pytest.mark.parametrize(("name", "kwargs", "queries"), PAGES)
def test_each_page_renders_in_bounded_queries(
    client, execution, django_assert_max_num_queries, name, kwargs, queries
):  # type: ignore[no-untyped-def]
    with django_assert_max_num_queries(queries):
        response = client.get(url(name, **kwargs), {"date": AS_OF})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "<table" in html


def test_dashboard_figures_are_the_services(staff_client, hdf, execution):  # type: ignore[no-untyped-def]
    as_of = dt.date.fromisoformat(AS_OF)
    total = aggregation.execution(contract=hdf, as_of=as_of).total
    html = staff_client.get(url("dashboard"), {"date": AS_OF}).content.decode()
    for value in (total.programmed, total.committed, total.paid):
        assert format_meur(value) in html
    assert total.committed == Decimal("3400000.00")


def test_a_filter_and_the_date_change_the_figures(staff_client, hdf, execution):  # type: ignore[no-untyped-def]
    def committed(**params: str) -> str:
        html = staff_client.get(url("dashboard"), params).content.decode()
        start = html.index('data-testid="kpi-committed">') + len('data-testid="kpi-committed">')
        return html[start : html.index("<", start)]

    assert committed(date=AS_OF) == format_meur(Decimal("3400000"))
    assert committed(date=AS_OF, departement="62") == format_meur(Decimal("400000"))
    assert committed(date="2022-07-01") == format_meur(Decimal("2000000"))


def test_a_bad_date_falls_back_to_today_with_a_message(client, hdf):  # type: ignore[no-untyped-def]
    html = client.get(url("dashboard"), {"date": "31/02/2024"}).content.decode()
    assert "est pas une date" in html


def _csv(client, path: str, **params: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    response = client.get(path, {**params, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_exports_hold_the_rows_the_page_shows(staff_client, hdf, execution):  # type: ignore[no-untyped-def]
    as_of = dt.date.fromisoformat(AS_OF)
    rows = _csv(staff_client, url("dashboard"), date=AS_OF, export="par-partenaire")
    header = rows.index(next(r for r in rows if r and r[0] == "Partenaire"))
    body = rows[header + 1 :]
    result = aggregation.execution(contract=hdf, as_of=as_of, group_by=("partner",))
    assert [r[0] for r in body] == [r.labels["partner"] for r in result.rows] + ["Total"]
    committed = rows[header].index("Engagé (€)")
    assert [Decimal(r[committed].replace(",", ".")) for r in body] == [
        r.committed for r in result.rows
    ] + [result.total.committed]

    xlsx = staff_client.get(
        url("territories"), {"date": AS_OF, "export": "carte-departement", "format": "xlsx"}
    )
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"


def test_unknown_export_is_a_404(client, hdf):  # type: ignore[no-untyped-def]
    assert client.get(url("dashboard"), {"export": "nope"}).status_code == 404


def test_the_map_has_one_area_per_departement(client, hdf, execution):  # type: ignore[no-untyped-def]
    html = client.get(url("territories"), {"date": AS_OF}).content.decode()
    for code in ("02", "59", "60", "62", "80"):
        assert f'data-code="{code}"' in html
    assert html.count('class="cper-map__area"') == 5
    html = client.get(
        url("territories"), {"niveau": "epci", "rapport": "habitant"}
    ).content.decode()
    assert html.count('class="cper-map__area"') == 92
    assert "par habitant" in html


def test_alerts(staff_client, execution):  # type: ignore[no-untyped-def]
    html = staff_client.get(url("dashboard"), {"date": "2024-06-30"}).content.decode()
    assert "W-003" in html  # programmed in January 2023, never committed
    html = staff_client.get(url("dashboard"), {"date": "2023-06-30"}).content.decode()
    assert "Opérations programmées sans engagement depuis 12 mois : 0" in html


def test_focus_page_shows_the_marker_per_axis(staff_client, execution):  # type: ignore[no-untyped-def]
    html = staff_client.get(url("focus"), {"date": AS_OF}).content.decode()
    assert "Emploi, formation et orientation professionnelle" in html
    assert "filières d’avenir" in html or "filières d'avenir" in html
    assert "W-002" in html and "W-001" not in html
    assert "Bassin minier" in html


def test_the_public_sees_published_operations_only(client, staff_client, execution):  # type: ignore[no-untyped-def]
    lille = execution["lille"]
    lille.published = True
    lille.save(update_fields=["published"])
    staff = staff_client.get(url("axis", number=2), {"date": AS_OF}).content.decode()
    client.logout()
    public = client.get(url("departement", code="59"), {"date": AS_OF}).content.decode()
    assert "W-001" in staff and "W-001" in public
    public = client.get(url("focus"), {"date": AS_OF}).content.decode()
    assert "W-002" not in public  # not published
    assert "Seules les opérations publiées sont listées" in public


def test_query_counts_do_not_grow_with_the_data(staff_client, hdf, execution):  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.finance import factories as F

    def counts() -> list[int]:
        out = []
        for name, kwargs, _ in PAGES:
            with CaptureQueriesContext(connection) as ctx:
                staff_client.get(url(name, **kwargs), {"date": AS_OF})
            out.append(len(ctx.captured_queries))
        return out

    before = counts()
    for i, commune in enumerate(["80021", "60057", "59512", "62193", "02691", "59009"] * 3):
        op = F.operation(hdf, objective=["1.1", "2.5", "4.2"][i % 3], communes=(commune,))
        line = F.line(op, ["etat", "region", "dep-80"][i % 3], "250000.00")
        F.record(line, "commitment", dt.date(2023, 5, 1), "200000.00")
        F.record(line, "payment", dt.date(2024, 5, 1), "100000.00")
    assert counts() == before


def test_the_page_export_equals_the_cli(staff_client, hdf, execution):  # type: ignore[no-untyped-def]
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "execution", SLUG, as_of=AS_OF, by="partner", filters="departement=59", format="json",
        stdout=out,
    )  # fmt: skip
    cli = json.loads(out.getvalue())
    rows = _csv(
        staff_client, url("dashboard"), date=AS_OF, departement="59", export="par-partenaire"
    )
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Partenaire")
    cols = rows[header]
    wanted = [cols.index(c) for c in ("Programmé (€)", "Engagé (€)", "Payé (€)")]
    page = {r[0]: [Decimal(r[i].replace(",", ".")) for i in wanted] for r in rows[header + 1 :]}
    expected = {
        r["labels"]["partner"]: [Decimal(r[k]) for k in ("programmed", "committed", "paid")]
        for r in cli["rows"]
    }
    assert page.pop("Total") is not None
    assert page == expected and expected
