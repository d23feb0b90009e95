"""« Exécution par programme »: the State's table by LOLF programme with its chart, linked from
the dashboard; the AE form for the State's managers only; a bounded number of queries."""

from __future__ import annotations

import datetime as dt

import pytest

from cper.accounts.models import Organisation, Role, User
from cper.contracts.models import BudgetProgramme
from cper.finance.models import AeMiseEnPlace
from tests.conftest import HDF_SLUG
from tests.finance import factories as F

pytestmark = pytest.mark.django_db
URL = f"/contrats/{HDF_SLUG}/execution-par-programme/"


@pytest.fixture
def state_line(hdf):  # type: ignore[no-untyped-def]
    op = F.operation(hdf, objective="4.2", code="PG-001")
    op.published = True  # the public's figures count published operations only
    op.save(update_fields=["published"])
    p150 = BudgetProgramme.objects.get(code="P150")
    line = F.line(op, "etat", "500000.00", budget_nature="ae_cp", programme=p150, bop="0150-X")
    F.record(line, "commitment", dt.date(2022, 6, 1), "400000.00", reference="2100000077")
    F.record(line, "payment", dt.date(2023, 2, 1), "100000.00")
    return line


def _manager(client, org_code):  # type: ignore[no-untyped-def]
    user = User.objects.create_user(
        f"pm-{org_code}",
        role=Role.PARTNER_MANAGER,
        organisation=Organisation.objects.get(code=org_code),
    )
    client.force_login(user)
    return client


def test_page_shows_ae_words_and_the_programme_row(
    client, state_line, django_assert_max_num_queries
):  # type: ignore[no-untyped-def]
    with django_assert_max_num_queries(25):
        page = client.get(URL, {"date": "2023-12-31"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "AE engagées" in html and "CP payés" in html and "AE mises en place" in html
    assert 'data-key="P150"' in html
    assert "400\u202f000,00\u00a0€" in html  # AE engagées on P150
    assert "<svg" in html
    assert "Enregistrer des AE mises en place" not in html  # the public records nothing


def test_dashboard_links_to_the_page(client, hdf):  # type: ignore[no-untyped-def]
    html = client.get(f"/contrats/{HDF_SLUG}/tableau-de-bord/").content.decode()
    assert URL in html


def test_state_manager_records_ae_through_the_form(client, hdf):  # type: ignore[no-untyped-def]
    _manager(client, "etat")
    assert "Enregistrer des AE mises en place" in client.get(URL).content.decode()
    form_url = URL + "ae/nouvelle/"
    refused = client.post(
        form_url,
        {"programme": "P112", "year": "2023", "kind": "withdrawal", "amount": "10,00",
         "date": "2023-02-01", "reference": "R-1", "note": ""},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "dit son motif" in refused.content.decode()
    done = client.post(
        form_url,
        {"programme": "P112", "bop": "0112-DR59", "year": "2023", "kind": "delegation",
         "amount": "1 500 000,00", "date": "2023-02-01", "reference": "NOTIF-1"},
    )  # fmt: skip
    assert done.status_code == 302
    assert AeMiseEnPlace.objects.get().amount == 1500000


def test_other_partner_managers_may_not_open_the_form(client, hdf):  # type: ignore[no-untyped-def]
    _manager(client, "departement-59")
    assert client.get(URL + "ae/nouvelle/").status_code == 403


def test_the_operation_page_names_programme_and_bop(client, state_line):  # type: ignore[no-untyped-def]
    html = client.get(f"/contrats/{HDF_SLUG}/operations/{state_line.operation_id}/").content
    assert "P150 — BOP 0150-X" in html.decode()
