"""Pages: list (filters, sort, pagination, bounded queries), detail, forms with French errors,
history showing every path, committees and their minutes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.models import Objective
from cper.operations import services
from cper.operations.models import (
    Decision,
    FinancingLine,
    Operation,
    OperationStatus,
    ProjectOwner,
)
from tests.operations.factories import OwnerFactory, make_line, make_operation


def url(name: str, hdf, *args) -> str:  # type: ignore[no-untyped-def]
    return reverse(f"operations:{name}", args=[hdf.slug, *args])


# --- list ---------------------------------------------------------------------------------------


@pytest.fixture
def register(hdf):  # type: ignore[no-untyped-def]
    """A small register: Amiens (Somme), Lens (Bassin minier), Lille (MEL)."""
    a = make_operation(
        hdf, code="A-1", title="Musée d'Amiens", objective="4.1", communes=("80021",)
    )
    b = make_operation(
        hdf, code="B-2", title="Friche de Lens", objective="2.4", communes=("62498",),
        status="programmed",
    )  # fmt: skip
    c = make_operation(
        hdf, code="C-3", title="Campus de Lille", objective="4.2", communes=("59350",),
        status="in_progress",
    )  # fmt: skip
    make_line(a, "region", "100")
    make_line(b, "etat", "300")
    make_line(c, "dep-59", "200")
    c.markers.add(hdf.markers.get())
    return a, b, c


@pytest.mark.parametrize(
    "query,expected",
    [
        ({}, ["A-1", "B-2", "C-3"]),
        ({"axis": "4"}, ["A-1", "C-3"]),
        ({"objective": "2.4"}, ["B-2"]),
        ({"partner": "dep-59"}, ["C-3"]),
        ({"departement": "80"}, ["A-1"]),
        ({"epci": "200093201"}, ["C-3"]),
        ({"territory": "bassin-minier"}, ["B-2"]),
        ({"status": "programmed"}, ["B-2"]),
        ({"marker": "emploi-formation-orientation"}, ["C-3"]),
        ({"q": "lens"}, ["B-2"]),
        ({"q": "B-2"}, ["B-2"]),
        ({"order": "-amount"}, ["B-2", "C-3", "A-1"]),
        ({"order": "-code"}, ["C-3", "B-2", "A-1"]),
        ({"order": "departement"}, ["C-3", "B-2", "A-1"]),
    ],
)
def test_list_filters_and_sorts(client, hdf, users, register, query, expected):
    client.force_login(users["observer"])
    response = client.get(url("list", hdf), query)
    assert response.status_code == 200
    assert [o.code for o in response.context["result"].items] == expected


def test_list_works_without_javascript_and_with_htmx(client, hdf, users, register):
    client.force_login(users["observer"])
    full = client.get(url("list", hdf), {"departement": "80"}).content.decode()
    assert '<form method="get"' in full and "Musée d&#x27;Amiens" in full
    partial = client.get(url("list", hdf), {"departement": "80"}, HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode() and "Musée" in partial.content.decode()


def test_list_bad_filter_is_a_400(client, hdf, users):
    client.force_login(users["observer"])
    assert client.get(url("list", hdf), {"order": "nonsense"}).status_code == 400
    assert client.get(url("list", hdf), {"status": "flying"}).status_code == 400


def test_list_is_paginated(client, hdf, users):
    owner = OwnerFactory()
    objective = Objective.objects.get(contract=hdf, code="2.2")
    Operation.objects.bulk_create(
        [
            Operation(
                contract=hdf, code=f"P-{i:03d}", title=f"Op {i}", owner=owner, objective=objective
            )
            for i in range(120)
        ]
    )
    client.force_login(users["observer"])
    page = client.get(url("list", hdf), {"page": "3", "order": "code"}).context["result"]
    assert (page.total, page.pages, page.page) == (120, 3, 3)
    assert [o.code for o in page.items][:2] == ["P-100", "P-101"] and len(page.items) == 20
    assert client.get(url("list", hdf), {"page": "99"}).context["result"].page == 3


def test_list_page_has_a_bounded_number_of_queries(
    client, hdf, users, django_assert_max_num_queries
):
    """At a realistic size (the demo generator, a few hundred operations with their lines,
    markers, communes), a filtered, sorted first page costs the same few queries."""
    from cper.demo.generator import demo_generate

    demo_generate(contract=hdf, scale="S", seed=7, operations=400)
    client.force_login(users["observer"])
    for query in (
        {},
        {"departement": "59", "order": "-amount"},
        {"territory": "bassin-minier", "marker": "emploi-formation-orientation", "order": "title"},
        {"partner": "region", "axis": "2", "q": "de", "status": "in_progress", "page": "2"},
    ):
        with django_assert_max_num_queries(16):
            response = client.get(url("list", hdf), query)
        assert response.status_code == 200
    # 30, plus issue 16's blocks « Échéancier prévisionnel » and « Indicateurs » (one query
    # each for a reader) and the aggregation's savepoint on PostgreSQL.
    with django_assert_max_num_queries(34):
        op = Operation.objects.filter(contract=hdf).order_by("-id").first()
        assert client.get(url("detail", hdf, op.pk)).status_code == 200


# --- detail -------------------------------------------------------------------------------------


def test_detail_shows_plan_timeline_decisions_and_history(client, hdf, users, actors):
    op = make_operation(hdf, status="submitted", cost_ht=Decimal("1000"))
    line = make_line(op, "region", "600")
    make_line(op, None, "300", financer_label="")
    make_line(op, None, "100", financer_kind="eu_fund", financer_label="FEDER")
    committee = services.committee_create(
        actor=actors["instructor"], contract=hdf, kind="programmation", date=dt.date(2024, 5, 2)
    )
    services.decision_record(
        actor=actors["instructor"], committee=committee, operation=op, outcome="approved",
        amounts={line: "600"},
    )  # fmt: skip
    client.force_login(users["observer"])
    html = client.get(url("detail", hdf, op.pk)).content.decode()
    assert "FEDER" in html and "600,00\u00a0€" in html
    assert 'data-testid="aid-rate">70,0\u00a0%' in html  # (600 + 100) / 1000
    assert "programmée" in html and "comité de programmation du 02/05/2024" in html
    assert 'data-testid="history"' in html and "décision" in html


def test_public_detail_has_no_history(client, hdf):
    op = make_operation(hdf, published=True)
    html = client.get(url("detail", hdf, op.pk)).content.decode()
    assert 'data-testid="history"' not in html
    assert client.get(url("history", hdf, op.pk)).status_code == 302  # to the login page


# --- forms: field errors in French, nothing written ---------------------------------------------


def form_data(hdf, **kw):  # type: ignore[no-untyped-def]
    data = {
        "title": "Maison de santé de Doullens",
        "owner_identifier": "21800019800018",
        "objective": Objective.objects.get(contract=hdf, code="2.3").pk,
        "communes": "80253",
        "cost_ht": "1 200 000,00",
        "cost_base": "ht",
    }
    data.update(kw)
    return data


@pytest.fixture
def amiens(db):  # type: ignore[no-untyped-def]
    return ProjectOwner.objects.create(
        name="Commune d'Amiens", siret="21800019800018", legal_category="commune"
    )


def test_create_page_creates_and_derives(client, hdf, users, amiens):
    client.force_login(users["instructor"])
    response = client.post(url("create", hdf), form_data(hdf))
    assert response.status_code == 302
    op = Operation.objects.get(title="Maison de santé de Doullens")
    assert (op.departement_id, op.cost_ht, op.status) == ("80", Decimal("1200000.00"), "draft")
    assert AuditEntry.objects.filter(operation_id=op.pk, via="web").exists()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("communes", "80253, 99999", "commune(s) inconnue(s) : 99999"),
        ("owner_identifier", "21800019800019", "aucun maître d&#x27;ouvrage"),
        ("cost_ht", "-5", "ne peut pas être négatif"),
        ("cost_ht", "douze", "n&#x27;est pas un montant"),
        ("title", "", "obligatoire"),
    ],
)
def test_create_page_errors_name_the_field_and_write_nothing(
    client, hdf, users, amiens, field, value, message
):
    client.force_login(users["instructor"])
    before = (Operation.objects.count(), AuditEntry.objects.count())
    response = client.post(url("create", hdf), form_data(hdf, **{field: value}))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors
    html = response.content.decode()
    assert message in html
    assert "fr-input-group--error" in html or "fr-select-group--error" in html
    assert (Operation.objects.count(), AuditEntry.objects.count()) == before


def test_owner_page_refuses_a_wrong_siret_check_digit(client, hdf, users):
    client.force_login(users["instructor"])
    response = client.post(
        url("owner_create", hdf),
        {"name": "Ville d'Amiens", "legal_category": "commune", "siret": "21800019800019"},
    )
    assert response.status_code == 400
    assert "siret" in response.context["form"].errors
    assert "clé de contrôle" in response.content.decode()
    assert not ProjectOwner.objects.exists()


def test_line_page_refuses_a_negative_amount(client, hdf, users):
    op = make_operation(hdf)
    client.force_login(users["nord"])
    response = client.post(
        url("line_add", hdf, op.pk),
        {
            "financer_kind": "partner",
            "partner": op.contract.partners.get(code="dep-59").pk,
            "objective": op.objective_id,
            "amount": "-1 000",
            "contractualised": "on",
            "budget_nature": "ap_cp",
        },
    )
    assert response.status_code == 400
    assert "amount" in response.context["form"].errors
    assert not FinancingLine.objects.exists()


def test_transition_page_refuses_a_disallowed_transition(client, hdf, users):
    op = make_operation(hdf, status=OperationStatus.DRAFT)
    client.force_login(users["instructor"])
    response = client.post(url("transition", hdf, op.pk), {"to_status": "closed"}, follow=True)
    assert "Statut inchangé" in response.content.decode()
    op.refresh_from_db()
    assert op.status == OperationStatus.DRAFT
    client.post(url("transition", hdf, op.pk), {"to_status": "submitted"})
    op.refresh_from_db()
    assert op.status == OperationStatus.SUBMITTED


def test_edit_page_changes_only_what_changed(client, hdf, users, amiens):
    op = make_operation(hdf, owner=amiens, communes=("80021",))
    client.force_login(users["instructor"])
    data = form_data(hdf, title="Nouveau titre", communes="80021", cost_ht="1000000")
    data["objective"] = op.objective_id
    response = client.post(url("edit", hdf, op.pk), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    op.refresh_from_db()
    assert op.title == "Nouveau titre"
    entry = AuditEntry.objects.filter(operation_id=op.pk).first()
    assert entry is not None and set(entry.changes) == {"title"}


# --- history from every path --------------------------------------------------------------------


def test_history_shows_changes_from_every_path(client, hdf, users):
    instructor = users["instructor"]
    op = services.operation_create(
        actor=Actor(user=instructor, via="web"),
        contract=hdf,
        title="Projet",
        owner=OwnerFactory(),
        objective=Objective.objects.get(contract=hdf, code="2.2"),
    )
    services.operation_update(actor=Actor(user=instructor, via="api"), operation=op, title="API")
    services.operation_update(
        actor=Actor(user=instructor, via="import"), operation=op, title="Import"
    )
    services.operation_update(actor=Actor.cli(), operation=op, title="CLI")
    line = services.financing_line_add(
        actor=Actor(user=users["admin"], via="admin"),
        operation=op,
        financer_kind="owner",
        amount="10",
    )
    services.financing_line_cancel(
        actor=Actor(user=users["admin"], via="admin"), line=line, reason="erreur"
    )
    client.force_login(users["observer"])
    html = client.get(url("history", hdf, op.pk)).content.decode()
    for label in ("page web", "API", "import", "ligne de commande", "administration"):
        assert label in html, label
    assert "API → Import" in html or "API</" in html
    assert "ligne de financement annulée" in html and "erreur" in html
    vias = set(AuditEntry.objects.filter(operation_id=op.pk).values_list("via", flat=True))
    assert vias == {"web", "api", "import", "cli", "admin"}


# --- committees ---------------------------------------------------------------------------------


def test_committee_pages_agenda_decision_and_minutes(client, hdf, users):
    op = make_operation(hdf, code="HDF-7", status="submitted", title="Halles de Doullens")
    line = make_line(op, "region", "5000")
    client.force_login(users["instructor"])
    response = client.post(
        url("committees", hdf),
        {"kind": "programmation", "date": "2024-03-14", "place": "Lille", "title": ""},
    )
    assert response.status_code == 302
    committee_url = response["Location"]
    response = client.post(committee_url, {"action": "agenda", "agenda-operation_code": "NOPE"})
    assert response.status_code == 400 and "aucune opération" in response.content.decode()
    assert (
        client.post(
            committee_url, {"action": "agenda", "agenda-operation_code": "HDF-7"}
        ).status_code
        == 302
    )
    decision = Decision.objects.get(operation=op)
    response = client.post(
        committee_url,
        {
            "action": "decision",
            "decision": decision.pk,
            f"d{decision.pk}-outcome": "approved",
            f"d{decision.pk}-notes": "sous réserve",
            f"d{decision.pk}-line_{line.pk}": "4 500",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    op.refresh_from_db()
    line.refresh_from_db()
    assert op.status == "programmed" and line.amount == Decimal("4500.00")
    minutes_url = reverse("operations:committee_minutes", args=[hdf.slug, decision.committee_id])
    html = client.get(minutes_url).content.decode()
    assert (
        "Relevé de décisions" in html and "Halles de Doullens" in html and "4\u202f500,00" in html
    )
    pdf = client.get(minutes_url, {"format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_committees_are_not_public(client, hdf):
    assert client.get(url("committees", hdf)).status_code == 302
