"""Contract tests of the operations endpoints: reads with filters and keyset pagination, writes
through the services, and the permission rules of the pages applied to tokens."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cper.audit.models import AuditEntry
from cper.operations.models import FinancingLine, Operation
from tests.api.conftest import first_page_and_listed
from tests.conftest import HDF_SLUG
from tests.operations.factories import make_line, make_operation, valid_siret

pytestmark = pytest.mark.django_db

BASE = f"/api/v1/contracts/{HDF_SLUG}"


@pytest.fixture
def register(hdf):
    """Three operations: two published (one in the Nord), one draft not published."""
    nord = make_operation(hdf, code="T-A", objective="2.2", communes=("59350",), published=True)
    make_line(nord, "dep-59", "200000.00")
    state_line = make_line(nord, "etat", "300000.00")
    aisne = make_operation(hdf, code="T-B", objective="1.1", communes=("02691",), published=True)
    hidden = make_operation(hdf, code="T-C", objective="2.2", communes=("59350",))
    make_line(hidden, "region", "50000.00")
    return {"nord": nord, "aisne": aisne, "hidden": hidden, "state_line": state_line}


def test_anonymous_sees_only_published_operations(register, anonymous_client):
    body = anonymous_client.get(f"{BASE}/operations").json()
    assert body["count"] == 2
    assert [r["code"] for r in body["results"]] == ["T-A", "T-B"]
    assert anonymous_client.get(f"{BASE}/operations/{register['hidden'].pk}").status_code == 404
    assert anonymous_client.get(f"{BASE}/operations/{register['nord'].pk}").status_code == 200


def test_observer_sees_unpublished_operations_too(register, observer_client):
    body = observer_client.get(f"{BASE}/operations").json()
    assert body["count"] == 3


def test_filters_are_those_of_the_list_page(register, observer_client):
    def codes(**params):
        body = observer_client.get(f"{BASE}/operations", params).json()
        assert body["count"] == len(body["results"])
        return [r["code"] for r in body["results"]]

    assert codes(departement="59") == ["T-A", "T-C"]
    assert codes(partner="etat") == ["T-A"]
    assert codes(objective="1.1") == ["T-B"]
    assert codes(axis=2) == ["T-A", "T-C"]
    assert codes(published="false") == ["T-C"]
    assert codes(q="T-B") == ["T-B"]
    assert codes(status="programmed") == []
    bad = observer_client.get(f"{BASE}/operations", {"status": "nope"})
    assert bad.status_code == 400 and bad.json()["field"] == "status.0"


def test_keyset_pagination_is_stable_and_counts_on_the_first_page_only(register, observer_client):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = observer_client.get(f"{BASE}/operations", params).json()
        # The total of the list on the first page; the next pages do not count again.
        assert body["count"] == (3 if pages == 0 else None)
        seen += [r["code"] for r in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # A row inserted before the cursor does not shift the next page.
        make_operation(register["nord"].contract, code="A-000", published=True)
    assert pages == 2 and seen == ["T-A", "T-B", "T-C"]
    bad = observer_client.get(f"{BASE}/operations", {"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["code"] == "curseur_invalide"


def test_operation_detail_has_plan_and_lines_with_money_as_strings(register, anonymous_client):
    body = anonymous_client.get(f"{BASE}/operations/{register['nord'].pk}").json()
    assert body["code"] == "T-A" and body["departement"] == "59"
    assert {line["partner"]: line["amount"] for line in body["financing_lines"]} == {
        "dep-59": "200000.00",
        "etat": "300000.00",
    }
    assert body["plan"]["contractualised"] == "500000.00"
    lines = anonymous_client.get(f"{BASE}/operations/{register['nord'].pk}/financing-lines")
    assert lines.json()["count"] == 2


def _new_operation(**extra):
    return {
        "title": "Réhabilitation du campus",
        "owner": {
            "siret": valid_siret(777),
            "name": "Université test",
            "legal_category": "universite",
        },
        "objective": "2.2",
        "communes": ["59350"],
        "cost_ht": "1000000.00",
        "external_references": [{"partner": "etat", "reference": "CHORUS-42"}],
        "financing_lines": [
            {"financer_kind": "partner", "partner": "etat", "amount": "400000"},
            {"financer_kind": "owner", "financer_label": "Autofinancement", "amount": "600000.00"},
        ],
        **extra,
    }


def test_instructor_creates_an_operation_with_its_plan_audited_as_api(hdf, instructor_client):
    response = instructor_client.post(f"{BASE}/operations", _new_operation())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["departement"] == "59"
    assert sorted(line["amount"] for line in body["financing_lines"]) == ["400000.00", "600000.00"]
    op = Operation.objects.get(pk=body["id"])
    assert AuditEntry.objects.filter(operation_id=op.pk, via="api").exists()


def test_create_is_idempotent_on_the_partners_reference(hdf, instructor_client):
    first = instructor_client.post(f"{BASE}/operations", _new_operation())
    again = instructor_client.post(f"{BASE}/operations", _new_operation(title="Autre intitulé"))
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Operation.objects.filter(external_references__reference="CHORUS-42").count() == 1


def test_create_is_idempotent_on_the_idempotency_key(hdf, instructor_client):
    payload = _new_operation(external_references=[])
    headers = {"Idempotency-Key": "op-2024-0001"}
    first = instructor_client.post(f"{BASE}/operations", payload, headers)
    again = instructor_client.post(f"{BASE}/operations", payload, headers)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Operation.objects.filter(title="Réhabilitation du campus").count() == 1
    other = instructor_client.post(f"{BASE}/operations", _new_operation(title="x"), headers)
    assert other.status_code == 409 and other.json()["code"] == "cle_idempotence_reutilisee"


def test_invalid_writes_are_422_with_the_field_and_write_nothing(hdf, instructor_client):
    before = Operation.objects.count()
    cases = [
        (_new_operation(objective="9.9"), "objective"),
        (_new_operation(cost_ht=1000), "cost_ht"),
        (_new_operation(cost_ht="12,5"), "cost_ht"),
        (_new_operation(communes=["75056"]), "communes"),
        (_new_operation(end_date="2020-01-01", start_date="2024-01-01"), "end_date"),
        (
            _new_operation(
                financing_lines=[{"financer_kind": "partner", "partner": "nope", "amount": "1"}]
            ),
            "financing_lines.0.partner",
        ),
    ]
    for payload, field in cases:
        response = instructor_client.post(f"{BASE}/operations", payload)
        assert response.status_code == 422, (field, response.json())
        assert response.json()["field"] == field, response.json()
    assert Operation.objects.count() == before
    broken = instructor_client.client.post(
        f"{BASE}/operations",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {instructor_client.token}"},
    )
    assert broken.status_code == 400 and broken.json()["code"] == "requete_invalide"


def test_update_operation_and_lines(register, instructor_client):
    op = register["aisne"]
    response = instructor_client.patch(f"{BASE}/operations/{op.pk}", {"title": "Nouveau titre"})
    assert response.status_code == 200 and response.json()["title"] == "Nouveau titre"
    added = instructor_client.post(
        f"{BASE}/operations/{op.pk}/financing-lines",
        {"financer_kind": "eu_fund", "financer_label": "FEDER", "amount": "1000.00"},
    )
    assert added.status_code == 201, added.json()
    line_id = added.json()["id"]
    changed = instructor_client.patch(f"{BASE}/financing-lines/{line_id}", {"amount": "1500.50"})
    assert changed.status_code == 200 and changed.json()["amount"] == "1500.50"
    cancelled = instructor_client.post(
        f"{BASE}/financing-lines/{line_id}/cancel", {"reason": "doublon"}
    )
    assert cancelled.json()["status"] == "cancelled"
    assert FinancingLine.objects.get(pk=line_id).amount == Decimal("1500.50")


def test_observer_cannot_write(register, observer_client):
    response = observer_client.post(f"{BASE}/operations", _new_operation())
    assert response.status_code == 403
    assert response.json()["code"] == "interdit"
    response = observer_client.patch(f"{BASE}/operations/{register['nord'].pk}", {"title": "x"})
    assert response.status_code == 403


def test_anonymous_cannot_write(register, anonymous_client):
    response = anonymous_client.post(f"{BASE}/operations", _new_operation())
    assert response.status_code == 401
    assert response.json()["code"] == "jeton_invalide"


def test_nord_manager_edits_its_own_line_not_the_states(register, nord_client):
    state_line = register["state_line"]
    refused = nord_client.patch(f"{BASE}/financing-lines/{state_line.pk}", {"amount": "1.00"})
    assert refused.status_code == 403
    assert "État" in refused.json()["message"] or "etat" in refused.json()["message"].lower()
    own = FinancingLine.objects.get(operation=register["nord"], partner__code="dep-59")
    ok = nord_client.patch(f"{BASE}/financing-lines/{own.pk}", {"amount": "210000.00"})
    assert ok.status_code == 200, ok.json()


def test_committees_and_decisions_for_authenticated_roles(
    register, observer_client, anonymous_client
):
    import datetime as dt

    from cper.operations.models import Committee, Decision, DecisionAmount

    committee = Committee.objects.create(
        contract=register["nord"].contract, kind="programmation", date=dt.date(2023, 5, 12)
    )
    decision = Decision.objects.create(
        committee=committee, operation=register["nord"], outcome="approved"
    )
    DecisionAmount.objects.create(
        decision=decision, financing_line=register["state_line"], amount=Decimal("300000.00")
    )
    assert anonymous_client.get(f"{BASE}/committees").status_code == 401
    listing = observer_client.get(f"{BASE}/committees").json()
    assert listing["count"] == 1 and listing["results"][0]["approved_count"] == 1
    detail = observer_client.get(f"{BASE}/committees/{committee.pk}").json()
    assert detail["date"] == "2023-05-12"
    assert detail["decisions"][0]["operation_code"] == "T-A"
    assert detail["decisions"][0]["approved_amounts"] == [
        {
            "financing_line": register["state_line"].pk,
            "partner": "etat",
            "financer_label": "",
            "amount": "300000.00",
        }
    ]
    assert observer_client.get(f"{BASE}/committees/999999").status_code == 404


def test_contract_financing_lines_by_partner(register, nord_client, anonymous_client):
    body = nord_client.get(f"{BASE}/financing-lines", {"partner": "dep-59"}).json()
    assert body["count"] == 1
    assert body["results"][0]["partner"] == "dep-59"
    assert body["results"][0]["amount"] == "200000.00"
    everything = anonymous_client.get(f"{BASE}/financing-lines").json()
    assert everything["count"] == 2  # the lines of published operations only
    assert nord_client.get(f"{BASE}/financing-lines").json()["count"] == 3


@pytest.mark.parametrize("who", ["nord_client", "anonymous_client"])
@pytest.mark.parametrize(
    "filters",
    [{}, {"partner": "dep-59"}, {"objective": "1.1"}, {"status": "active"}],
    ids=["all", "partner", "objective", "status"],
)
def test_contract_financing_lines_first_page_count_is_the_number_listed(
    register, who, filters, request
):
    client = request.getfixturevalue(who)
    body, listed, sql = first_page_and_listed(client, f"{BASE}/financing-lines", filters)
    counts = [q for q in sql if "COUNT(" in q.upper()]
    assert body["count"] == listed
    # Counted on the line states (they carry the contract), unless filtered by line status.
    assert any('"operations_financingline"' in q for q in counts) == ("status" in filters)
