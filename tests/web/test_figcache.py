"""The dashboard's content kept between requests (cper.web.figcache): served again while
nothing is written, built anew after any audited write, never shown to a visitor who may not
see what it holds, and identical to the page built without the cache."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cper.audit.models import AuditEntry
from cper.audit.selectors import trail_version
from cper.money import format_meur
from tests.conftest import HDF_SLUG
from tests.finance import factories as F

AS_OF = "2024-06-30"


@pytest.fixture
def cache_on(settings):  # type: ignore[no-untyped-def]
    settings.CPER_FIGURES_CACHE_SECONDS = 600
    return settings


def dashboard() -> str:
    return reverse("web:dashboard", kwargs={"slug": HDF_SLUG})


def committed(html: str) -> str:
    return re.search(r'data-testid="kpi-committed">([^<]*)<', html).group(1)  # type: ignore[union-attr]


def figures(html: str) -> str:
    """The page's content block (the part the cache keeps), without the session's parts."""
    return html[html.index("<h1>Tableau de bord</h1>") : html.index("</main>")]


def test_the_second_request_is_served_from_the_cache_in_a_few_queries(
    cache_on, staff_client, execution
):  # type: ignore[no-untyped-def]
    first = staff_client.get(dashboard(), {"date": AS_OF})
    with CaptureQueriesContext(connection) as queries:
        again = staff_client.get(dashboard(), {"date": AS_OF})
    assert again.status_code == 200
    assert figures(again.content.decode()) == figures(first.content.decode())
    # The session, the user, the contract, the trail's version, the cache: no aggregation.
    assert len(queries.captured_queries) <= 8, [q["sql"][:80] for q in queries]
    assert not any("finance_" in q["sql"] for q in queries.captured_queries)


def test_a_movement_recorded_after_the_page_was_kept_shows_on_the_next_request(
    cache_on, staff_client, execution
):  # type: ignore[no-untyped-def]
    before = staff_client.get(dashboard(), {"date": AS_OF}).content.decode()
    assert committed(before) == format_meur(Decimal("3400000"))
    line = execution["laon"].financing_lines.get()
    F.record(line, "commitment", dt.date(2024, 5, 2), "800000.00")  # through the service
    after = staff_client.get(dashboard(), {"date": AS_OF}).content.decode()
    assert committed(after) == format_meur(Decimal("4200000"))


def test_the_cached_page_is_the_page_built_without_the_cache(settings, staff_client, execution):  # type: ignore[no-untyped-def]
    params = {"date": AS_OF, "departement": "59"}
    settings.CPER_FIGURES_CACHE_SECONDS = 0
    plain = staff_client.get(dashboard(), params).content.decode()
    settings.CPER_FIGURES_CACHE_SECONDS = 600
    staff_client.get(dashboard(), params)  # kept
    kept = staff_client.get(dashboard(), params).content.decode()  # served from the cache
    assert figures(kept) == figures(plain)


def test_the_public_never_gets_the_content_kept_for_staff(cache_on, staff_client, execution):  # type: ignore[no-untyped-def]
    # W-001..W-003 are not published: staff see their commitments, the public sees none.
    staff = staff_client.get(dashboard(), {"date": AS_OF}).content.decode()
    public = Client().get(dashboard(), {"date": AS_OF}).content.decode()  # anonymous
    assert committed(staff) == format_meur(Decimal("3400000"))
    assert committed(public) == format_meur(Decimal("0"))


def test_each_filter_and_date_has_its_own_content(cache_on, staff_client, execution):  # type: ignore[no-untyped-def]
    assert committed(staff_client.get(dashboard(), {"date": AS_OF}).content.decode()) == (
        format_meur(Decimal("3400000"))
    )
    by_dep = staff_client.get(dashboard(), {"date": AS_OF, "departement": "62"})
    assert committed(by_dep.content.decode()) == format_meur(Decimal("400000"))
    earlier = staff_client.get(dashboard(), {"date": "2022-07-01"})
    assert committed(earlier.content.decode()) == format_meur(Decimal("2000000"))


def test_an_export_is_built_from_the_figures_not_from_the_cache(cache_on, staff_client, execution):  # type: ignore[no-untyped-def]
    staff_client.get(dashboard(), {"date": AS_OF})
    response = staff_client.get(
        dashboard(), {"date": AS_OF, "export": "par-partenaire", "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


@pytest.mark.django_db
def test_the_version_moves_when_an_older_id_commits_late(hdf):  # type: ignore[no-untyped-def]
    """PostgreSQL hands out ids before commit: a transaction holding an older id can commit
    after a newer one. The last id does not move then, the version must."""
    last = trail_version()[0]
    entry = {"via": "system", "action": AuditEntry._meta.get_field("action").choices[0][0]}
    AuditEntry.objects.create(id=last + 10, subject_type="t", subject_id="1", **entry)
    seen = trail_version()
    AuditEntry.objects.create(id=last + 5, subject_type="t", subject_id="2", **entry)
    assert trail_version()[0] == seen[0] == last + 10
    assert trail_version() != seen


def plain_then_kept(settings, client, url: str, start: str) -> tuple[str, str, list[str]]:  # type: ignore[no-untyped-def]
    """The page built without the cache, then served from it (the queries of that last
    request), each cut from `start` to the end of <main>."""

    def content(html: str) -> str:
        return html[html.index(start) : html.index("</main>")]

    settings.CPER_FIGURES_CACHE_SECONDS = 0
    plain = client.get(url, {"date": AS_OF}).content.decode()
    settings.CPER_FIGURES_CACHE_SECONDS = 600
    client.get(url, {"date": AS_OF})  # kept
    with CaptureQueriesContext(connection) as queries:
        kept = client.get(url, {"date": AS_OF}).content.decode()
    return content(plain), content(kept), [q["sql"] for q in queries.captured_queries]


def test_the_focus_page_kept_is_the_page_built_without_the_cache(settings, staff_client, execution):  # type: ignore[no-untyped-def]
    url = reverse("web:focus", kwargs={"slug": HDF_SLUG})
    plain, kept, sql = plain_then_kept(settings, staff_client, url, '<p class="fr-badge')
    assert kept == plain and "W-002" in kept
    assert not any("finance_" in q for q in sql)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("web:axis", {"number": 2}),
        ("web:objective", {"code": "2.1"}),
        ("web:partner", {"code": "etat"}),
        ("web:departement", {"code": "59"}),
    ],
)
def test_a_scope_page_kept_is_the_page_built_without_the_cache(
    settings, staff_client, execution, name, kwargs
):  # type: ignore[no-untyped-def]
    url = reverse(name, kwargs={"slug": HDF_SLUG, **kwargs})
    plain, kept, sql = plain_then_kept(settings, staff_client, url, "<h1>")
    assert kept == plain and "W-001" in kept
    assert not any("finance_movement" in q for q in sql)
