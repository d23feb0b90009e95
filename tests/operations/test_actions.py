"""An operation may point at an action of its main objective (issue 12, item 6): through the
services (checked), the form and the import column « Action »."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cper.audit.services import Actor
from cper.contracts.models import Action, Objective
from cper.io.imports import import_operations
from cper.operations import services
from cper.operations.models import Operation
from tests.conftest import HDF_SLUG
from tests.io.conftest import SIRET_A, csv_file
from tests.operations.factories import OwnerFactory

pytestmark = pytest.mark.django_db


def _create(hdf, actor, **kw):  # type: ignore[no-untyped-def]
    return services.operation_create(
        actor=actor,
        contract=hdf,
        title="Campus de recherche",
        owner=OwnerFactory(),
        objective=Objective.objects.get(contract=hdf, code=kw.pop("objective", "4.2")),
        communes=["80021"],
        **kw,
    )


def test_an_operation_points_at_an_action_of_its_objective(hdf, actors):
    action = Action.objects.get(contract=hdf, code="4.2.1")
    op = _create(hdf, actors["instructor"], action=action)
    assert Operation.objects.get(pk=op.pk).action == action


def test_an_action_of_another_objective_is_refused_naming_the_field(hdf, actors):
    action = Action.objects.get(contract=hdf, code="1.1.1")
    with pytest.raises(ValidationError) as exc:
        _create(hdf, actors["instructor"], action=action)
    assert exc.value.message_dict["action"] == [
        "l'action 1.1.1 n'appartient pas à l'objectif principal 4.2"
    ]


def test_changing_the_objective_without_the_action_is_refused(hdf, actors):
    op = _create(hdf, actors["instructor"], action=Action.objects.get(contract=hdf, code="4.2.2"))
    with pytest.raises(ValidationError) as exc:
        services.operation_update(
            actor=actors["instructor"],
            operation=op,
            objective=Objective.objects.get(contract=hdf, code="4.1"),
        )
    assert "action" in exc.value.message_dict
    services.operation_update(
        actor=actors["instructor"],
        operation=op,
        objective=Objective.objects.get(contract=hdf, code="4.1"),
        action=None,
    )
    assert Operation.objects.get(pk=op.pk).action_id is None


def test_detail_page_and_form_show_the_action(client, hdf, actors, users):
    op = _create(hdf, actors["instructor"], action=Action.objects.get(contract=hdf, code="4.2.1"))
    client.force_login(users["instructor"])
    detail = client.get(f"/contrats/{HDF_SLUG}/operations/{op.pk}/").content.decode()
    assert 'data-testid="action">4.2.1 ' in detail
    form = client.get(f"/contrats/{HDF_SLUG}/operations/{op.pk}/modifier/").content.decode()
    assert 'name="action"' in form


def test_import_column_action_sets_and_checks_the_action(hdf, users):
    actor = Actor(user=users["admin"], via="import")
    header = ["N° d'opération", "Intitulé", "N° SIRET", "Maître d'ouvrage", "Code INSEE"]
    header += ["Objectif", "Action", "Part État"]

    def run(*rows):  # type: ignore[no-untyped-def]
        return import_operations(
            actor=actor, contract=hdf, source=csv_file([header, *rows]), dry_run=False
        )

    good = run(["ACT-1", "Plateforme", SIRET_A, "Université", "80021", "4.2", "4.2.2", "1000"])
    assert good.ok, good.rejections
    assert Operation.objects.get(contract=hdf, code="ACT-1").action.code == "4.2.2"
    bad = run(
        ["ACT-2", "Autre", SIRET_A, "Université", "80021", "4.2", "1.1.1", "1000"],
        ["ACT-3", "Encore", SIRET_A, "Université", "80021", "4.2", "9.9.9", "1000"],
    )
    messages = [(r.column, r.message) for r in bad.rejections]
    assert ("Action", "l'action 1.1.1 n'appartient pas à l'objectif principal 4.2") in messages
    assert any(m.startswith("action inconnue « 9.9.9 »") for _, m in messages)
    assert not Operation.objects.filter(code__in=["ACT-2", "ACT-3"]).exists()
