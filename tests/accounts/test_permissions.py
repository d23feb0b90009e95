"""The one permission function, and each rule on each write path: service, page, admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from cper.accounts.permissions import ACTIONS, can, require, require_actor
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.models import Partner
from cper.operations import services
from cper.operations.models import FinancingLine, Operation, OperationStatus
from tests.operations.factories import make_line, make_operation, make_user

WRITE_ACTIONS = [a for a in ACTIONS if a not in {"operation.view", "export.run"}]


# --- the function itself ----------------------------------------------------------------------


def test_administrator_may_do_everything(hdf, users):
    op = make_operation(hdf)
    for action in ACTIONS:
        assert can(users["admin"], action, op if action.startswith("operation") else None)


def test_superuser_counts_as_administrator(hdf):
    su = make_user("observer", username="su", is_superuser=True)
    assert can(su, "maquette.edit") and can(su, "contract.load")


@pytest.mark.parametrize("action", WRITE_ACTIONS)
def test_observer_and_public_write_nothing(hdf, users, action):
    for who in ("observer", "public"):
        if who == "observer" and action in {
            "operation.history",
            "audit.view",
            "committee.view",
            "partner_decision.document",
        }:
            assert can(users[who], action)  # reads
            continue
        assert not can(users[who], action), (who, action)
    assert not can(AnonymousUser(), action)


def test_public_and_anonymous_see_published_operations_only(hdf, users):
    published = make_operation(hdf, published=True)
    hidden = make_operation(hdf)
    for user in (users["public"], AnonymousUser()):
        assert can(user, "operation.view", published)
        assert not can(user, "operation.view", hidden)
        assert not can(user, "operation.history", published)
    for who in ("observer", "nord", "instructor"):
        assert can(users[who], "operation.view", hidden)


def test_inactive_user_can_do_nothing(hdf, users):
    users["admin"].is_active = False
    assert not can(users["admin"], "operation.edit")


def test_partner_manager_only_touches_its_own_partner_money(hdf, users):
    op = make_operation(hdf)
    state_line = make_line(op, "etat", "1000")
    nord_line = make_line(op, "dep-59", "1000")
    owner_line = make_line(op, None, "1000")
    nord = users["nord"]
    assert can(nord, "financing_line.edit", nord_line)
    assert can(nord, "movement.record", nord_line)
    assert not can(nord, "financing_line.edit", state_line)
    assert not can(nord, "movement.record", state_line)
    assert not can(nord, "financing_line.edit", owner_line)
    assert can(nord, "financing_line.edit", (op, nord_line.partner))
    assert not can(nord, "financing_line.edit", (op, state_line.partner))
    for action in ("operation.edit", "operation.create", "operation.transition", "committee.edit"):
        assert not can(nord, action, op)
    assert can(nord, "import.run")
    assert not can(nord, "maquette.edit") and not can(nord, "contract.load")
    with pytest.raises(PermissionDenied) as exc:
        require(nord, "financing_line.edit", state_line)
    assert "État" in str(exc.value) and "pas votre organisation" in str(exc.value)


def test_instructor_edits_operations_but_not_other_partners_money(hdf, users):
    op = make_operation(hdf)
    instructor = users["instructor"]  # belongs to the State's organisation
    for action in ("operation.edit", "operation.create", "operation.transition", "committee.edit"):
        assert can(instructor, action, op)
    assert can(instructor, "financing_line.edit", make_line(op, None, "10"))  # owner's share
    assert can(instructor, "financing_line.edit", make_line(op, "etat", "10"))  # its own
    assert not can(instructor, "financing_line.edit", make_line(op, "region", "10"))
    assert not can(instructor, "movement.record", make_line(op, "etat", "10"))
    assert not can(instructor, "maquette.edit")


def test_unknown_action_is_a_programming_error(users):
    with pytest.raises(ValueError):
        can(users["admin"], "operation.fly")


def test_system_and_cli_actors_without_user_are_trusted(hdf):
    require_actor(Actor.system(), "maquette.edit")
    require_actor(Actor.cli(), "contract.load")
    with pytest.raises(PermissionDenied):
        require_actor(Actor(user=None, via="web"), "operation.edit")
    with pytest.raises(PermissionDenied):
        require_actor(Actor(user=None, via="api"), "operation.edit")


# --- write path: services ---------------------------------------------------------------------


def snapshot(line: FinancingLine) -> tuple:
    line.refresh_from_db()
    return (line.amount, line.status, AuditEntry.objects.count())


def test_service_nord_manager_cannot_change_a_state_line(hdf, actors):
    op = make_operation(hdf)
    line = make_line(op, "etat", "1000")
    before = snapshot(line)
    with pytest.raises(PermissionDenied):
        services.financing_line_update(actor=actors["nord"], line=line, amount="2000")
    with pytest.raises(PermissionDenied):
        services.financing_line_cancel(actor=actors["nord"], line=line, reason="non")
    with pytest.raises(PermissionDenied):
        services.financing_line_add(
            actor=actors["nord"],
            operation=op,
            financer_kind="partner",
            partner=Partner.objects.get(contract=hdf, code="etat"),
            amount="10",
        )
    assert snapshot(line) == before
    assert FinancingLine.objects.filter(operation=op).count() == 1


def test_service_nord_manager_changes_its_own_line(hdf, actors):
    op = make_operation(hdf)
    line = make_line(op, "dep-59", "1000")
    services.financing_line_update(actor=actors["nord"], line=line, amount="1500")
    line.refresh_from_db()
    assert line.amount == Decimal("1500.00")
    services.financing_line_add(
        actor=actors["nord"],
        operation=op,
        financer_kind="partner",
        partner=Partner.objects.get(contract=hdf, code="dep-59"),
        amount="10",
    )


@pytest.mark.parametrize("who", ["observer", "public", "nord"])
def test_service_operation_writes_refused(hdf, actors, who):
    op = make_operation(hdf, status=OperationStatus.DRAFT)
    with pytest.raises(PermissionDenied):
        services.operation_update(actor=actors[who], operation=op, title="x")
    with pytest.raises(PermissionDenied):
        services.operation_create(
            actor=actors[who], contract=hdf, title="x", owner=op.owner, objective=op.objective
        )
    with pytest.raises(PermissionDenied):
        services.owner_create(
            actor=actors[who], name="x", legal_category="commune", siret="21800019800018"
        )
    with pytest.raises(PermissionDenied):
        services.committee_create(
            actor=actors[who], contract=hdf, kind="programmation", date=op.created_at.date()
        )
    op.refresh_from_db()
    assert op.title != "x" and Operation.objects.count() == 1


def test_service_observer_cannot_touch_money(hdf, actors):
    op = make_operation(hdf)
    line = make_line(op, None, "1000")
    with pytest.raises(PermissionDenied):
        services.financing_line_update(actor=actors["observer"], line=line, amount="1")
    with pytest.raises(PermissionDenied):
        services.financing_line_cancel(actor=actors["observer"], line=line, reason="x")


# --- write path: pages ------------------------------------------------------------------------


def test_page_nord_manager_cannot_change_a_state_line(client, hdf, users):
    op = make_operation(hdf)
    line = make_line(op, "etat", "1000")
    client.force_login(users["nord"])
    url = reverse("operations:line_edit", args=[hdf.slug, op.pk, line.pk])
    assert client.get(url).status_code == 403
    before = snapshot(line)
    response = client.post(url, {"amount": "9999", "objective": op.objective_id})
    assert response.status_code == 403
    cancel = reverse("operations:line_cancel", args=[hdf.slug, op.pk, line.pk])
    assert client.post(cancel, {"cancel_reason": "non"}).status_code == 403
    assert snapshot(line) == before


def test_page_nord_manager_edits_its_own_line(client, hdf, users):
    op = make_operation(hdf)
    line = make_line(op, "dep-59", "1000")
    client.force_login(users["nord"])
    url = reverse("operations:line_edit", args=[hdf.slug, op.pk, line.pk])
    response = client.post(
        url,
        {
            "amount": "1 250,50",
            "objective": op.objective_id,
            "contractualised": "on",
            "budget_nature": "ap_cp",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    line.refresh_from_db()
    assert line.amount == Decimal("1250.50")
    entry = AuditEntry.objects.filter(operation_id=op.pk).first()
    assert entry is not None and entry.via == "web" and entry.user == users["nord"]


@pytest.mark.parametrize("who", ["observer", "public", "nord"])
def test_page_operation_writes_refused(client, hdf, users, who):
    op = make_operation(hdf, published=True)
    client.force_login(users[who])
    assert client.post(reverse("operations:create", args=[hdf.slug]), {}).status_code == 403
    edit = reverse("operations:edit", args=[hdf.slug, op.pk])
    assert client.post(edit, {"title": "x"}).status_code == 403
    transition = reverse("operations:transition", args=[hdf.slug, op.pk])
    assert client.post(transition, {"to_status": "submitted"}).status_code == 403
    committees = reverse("operations:committees", args=[hdf.slug])
    assert client.post(committees, {"kind": "pilotage", "date": "2024-01-01"}).status_code == 403
    op.refresh_from_db()
    assert op.status == OperationStatus.DRAFT and op.title != "x"


def test_page_anonymous_is_sent_to_login(client, hdf):
    op = make_operation(hdf, published=True)
    response = client.post(reverse("operations:edit", args=[hdf.slug, op.pk]), {"title": "x"})
    assert response.status_code == 302 and "/connexion/" in response["Location"]
    response = client.get(reverse("operations:create", args=[hdf.slug]))
    assert response.status_code == 302 and "/connexion/" in response["Location"]


def test_page_public_does_not_see_unpublished_operations(client, hdf, users):
    hidden = make_operation(hdf, title="Projet confidentiel")
    shown = make_operation(hdf, title="Projet publié", published=True)
    for login in (None, users["public"]):
        if login:
            client.force_login(login)
        listing = client.get(reverse("operations:list", args=[hdf.slug])).content.decode()
        assert "Projet publié" in listing and "Projet confidentiel" not in listing
        assert (
            client.get(reverse("operations:detail", args=[hdf.slug, hidden.pk])).status_code == 404
        )
        assert (
            client.get(reverse("operations:detail", args=[hdf.slug, shown.pk])).status_code == 200
        )
    client.force_login(users["observer"])
    listing = client.get(reverse("operations:list", args=[hdf.slug])).content.decode()
    assert "Projet confidentiel" in listing


# --- write path: admin ------------------------------------------------------------------------


def admin_line_url(line: FinancingLine) -> str:
    return reverse("admin:operations_financingline_change", args=[line.pk])


def test_admin_nord_manager_cannot_change_a_state_line(client, hdf, users):
    op = make_operation(hdf)
    line = make_line(op, "etat", "1000")
    client.force_login(users["nord"])
    before = snapshot(line)
    response = client.post(
        admin_line_url(line),
        {"amount": "5", "objective": op.objective_id, "budget_nature": "ae_cp"},
    )
    assert response.status_code == 403
    assert snapshot(line) == before
    assert client.get(reverse("admin:operations_financingline_add")).status_code == 200  # own lines


def test_admin_changes_go_through_the_services(client, hdf, users):
    op = make_operation(hdf)
    line = make_line(op, "dep-59", "1000")
    client.force_login(users["nord"])
    response = client.post(
        admin_line_url(line),
        {
            "amount": "1200",
            "financer_label": "",
            "objective": op.objective_id,
            "contractualised": "on",
            "budget_nature": "ap_cp",
            "year": "",
            "external_ref": "",
            "programme": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    line.refresh_from_db()
    assert line.amount == Decimal("1200.00")
    entry = AuditEntry.objects.filter(operation_id=op.pk).first()
    assert entry is not None and entry.via == "admin"
    assert entry.changes["amount"] == {"avant": "1000.00", "après": "1200.00"}


def test_admin_never_deletes_money(client, hdf, users):
    op = make_operation(hdf)
    line = make_line(op, "etat", "1000")
    client.force_login(users["admin"])
    url = reverse("admin:operations_financingline_delete", args=[line.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert FinancingLine.objects.filter(pk=line.pk).exists()


@pytest.mark.parametrize(
    "url_name",
    ["operations_operation_add", "operations_committee_add", "operations_projectowner_add"],
)
def test_admin_observer_adds_nothing(client, hdf, users, url_name):
    client.force_login(users["observer"])
    users["observer"].is_staff = True
    users["observer"].save()
    assert client.get(reverse(f"admin:{url_name}")).status_code == 403
    assert client.post(reverse(f"admin:{url_name}"), {}).status_code == 403


def test_admin_operation_edit_is_audited_with_the_admin_path(client, hdf, users):
    op = make_operation(hdf)
    client.force_login(users["instructor"])
    url = reverse("admin:operations_operation_change", args=[op.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "title": "Titre changé dans l'admin",
            "owner": op.owner_id,
            "objective": op.objective_id,
            "cost_base": "ht",
            "cost_ht": "1000000.00",
            "secondary_objectives": [],
            "markers": [],
            "operationcommune_set-TOTAL_FORMS": "1",
            "operationcommune_set-INITIAL_FORMS": "1",
            "operationcommune_set-0-id": op.operationcommune_set.get().pk,
            "operationcommune_set-0-operation": op.pk,
            "financing_lines-TOTAL_FORMS": "0",
            "financing_lines-INITIAL_FORMS": "0",
        }
    )
    data = {k: v for k, v in data.items() if v is not None}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    op.refresh_from_db()
    assert op.title == "Titre changé dans l'admin"
    assert AuditEntry.objects.filter(operation_id=op.pk, via="admin").exists()
