"""A partner manager's workspace: its partner's figures and work lists, each exportable."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from cper.accounts.models import Organisation, Role, User
from cper.io.models import ImportLog
from tests.finance import factories as F

D = dt.date


def _user(role: str, org: str | None) -> User:
    return User.objects.create_user(
        username=f"w-{role}-{org}",
        role=role,
        organisation=Organisation.objects.get(code=org) if org else None,
    )


@pytest.fixture
def lines(hdf):  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    waiting = F.line(F.operation(hdf, programmed_on=D(2022, 1, 10)), "etat", "1000.00")
    stale = F.line(F.operation(hdf, programmed_on=D(2022, 1, 10)), "etat", "1000.00")
    F.record(stale, "commitment", D(2022, 2, 1), "700.00", reference="EJ-STALE")
    fresh = F.line(F.operation(hdf, programmed_on=D(2022, 1, 10)), "etat", "1000.00")
    F.record(fresh, "commitment", D(2022, 2, 1), "700.00", reference="EJ-FRESH")
    F.record(fresh, "payment", today, "100.00", reference="MDT-TODAY")
    region = F.line(F.operation(hdf, programmed_on=D(2022, 1, 10)), "region", "1000.00")
    return {"waiting": waiting, "stale": stale, "fresh": fresh, "region": region}


def _url(hdf, **params: str) -> str:  # type: ignore[no-untyped-def]
    url = reverse("web:workspace", kwargs={"slug": hdf.slug})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def test_a_partner_manager_lands_on_its_partners_work_lists(client, hdf, lines):
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == _url(hdf)
    response = client.get(_url(hdf))
    assert response.status_code == 200
    tables = {t.id: t for t in response.context["lists"]}
    waiting = [r[0] for r in tables["programmees-sans-engagement"].rows]
    assert lines["waiting"].operation.code in waiting
    assert lines["stale"].operation.code not in waiting
    assert lines["region"].operation.code not in waiting, "another partner's line"
    stale = [r[0] for r in tables["engagements-sans-paiement"].rows]
    assert stale == [lines["stale"].operation.code]
    month = [r[4] for r in tables["mouvements-du-mois"].rows]
    assert month == ["MDT-TODAY"]
    # The partner's own figures: what the aggregation service gives filtered on it.
    assert response.context["kpis"]["row"].committed == 1400


def test_each_work_list_exports_as_csv(client, hdf, lines):
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    response = client.get(_url(hdf, export="engagements-sans-paiement", format="csv"))
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert any(lines["stale"].operation.code in row for row in rows)
    xlsx = client.get(_url(hdf, export="mouvements-du-mois", format="xlsx"))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_a_manager_cannot_open_another_partners_workspace(client, hdf, lines):
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    assert client.get(_url(hdf, partenaire="region")).status_code == 403


def test_staff_choose_the_partner_and_the_public_is_asked_to_log_in(client, hdf, lines):
    assert client.get(_url(hdf)).status_code == 302
    client.force_login(_user(Role.OBSERVER, None))
    response = client.get(_url(hdf, partenaire="region"))
    assert response.status_code == 200
    waiting = [r[0] for r in response.context["lists"][0].rows]
    assert waiting == [lines["region"].operation.code]


def test_recent_imports_of_the_partner_are_listed(client, hdf, lines):
    manager = _user(Role.PARTNER_MANAGER, "etat")
    ImportLog.objects.create(
        contract=hdf,
        kind="movements",
        partner=hdf.partners.get(code="etat"),
        user=manager,
        file_name="mandats-novembre.xlsx",
        sha256="0" * 64,
    )
    client.force_login(manager)
    response = client.get(_url(hdf))
    assert b"mandats-novembre.xlsx" in response.content


def test_a_refusal_page_gives_its_reason_in_french(client, hdf, lines):
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    response = client.get(_url(hdf, partenaire="region"))
    assert response.status_code == 403
    assert "Vous gérez l&#x27;espace de État, pas celui d&#x27;un autre partenaire." in (
        response.content.decode()
    )
