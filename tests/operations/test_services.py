"""Services of the register: derivations, validation (field named, nothing written), audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.models import Marker, Objective, Partner
from cper.operations import selectors, services
from cper.operations.models import (
    FinancingLine,
    LineStatus,
    Operation,
    OperationStatus,
    ProjectOwner,
)
from tests.operations.factories import OwnerFactory, make_line, make_operation


def counts() -> tuple[int, ...]:
    return (
        Operation.objects.count(),
        FinancingLine.objects.count(),
        ProjectOwner.objects.count(),
        AuditEntry.objects.count(),
    )


@pytest.fixture
def owner(db):  # type: ignore[no-untyped-def]
    return OwnerFactory()


def create(hdf, actor, owner, **kw):  # type: ignore[no-untyped-def]
    params = {
        "title": "Rénovation du musée de Picardie",
        "owner": owner,
        "objective": Objective.objects.get(contract=hdf, code="4.1"),
        "communes": ["80021"],
        "cost_ht": "2500000",
        "cost_ttc": "3000000",
    }
    params.update(kw)
    return services.operation_create(actor=actor, contract=hdf, **params)


# --- derivation ---------------------------------------------------------------------------------


def test_departement_and_epci_are_derived_from_the_first_commune(hdf, actors, owner):
    op = create(hdf, actors["instructor"], owner, communes=["80021", "59350"])
    assert op.code == "OP-000001"
    assert op.departement_id == "80"  # Amiens, Somme
    assert op.epci_id == "248000531"  # Amiens Métropole
    op = services.operation_update(actor=actors["instructor"], operation=op, communes=["59350"])
    op.refresh_from_db()
    assert (op.departement_id, op.epci_id) == ("59", "200093201")  # Lille, MEL


def test_project_territories_are_derived_from_the_communes(hdf, actors, owner):
    # Lens (62498) is in the Bassin minier and has a QPV in the contract's list.
    op = create(hdf, actors["instructor"], owner, communes=["62498"])
    detail = selectors.operation_detail(contract=hdf, pk=op.pk, user=actors["admin"].user)
    assert {t.code for t in detail.territories} >= {"bassin-minier", "qpv"}
    found = selectors.operation_list(
        contract=hdf, user=actors["admin"].user, filters={"territory": "bassin-minier"}
    )
    assert [o.pk for o in found.items] == [op.pk]
    none = selectors.operation_list(
        contract=hdf, user=actors["admin"].user, filters={"territory": "littoral"}
    )
    assert none.total == 0


def test_an_operation_without_commune_has_no_derived_place(hdf, actors, owner):
    op = create(hdf, actors["instructor"], owner, communes=[])
    assert op.departement_id is None and op.epci_id is None


# --- bad input ----------------------------------------------------------------------------------


def test_unknown_commune_is_refused_naming_the_field(hdf, actors, owner):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        create(hdf, actors["instructor"], owner, communes=["80021", "99999"])
    assert "communes" in exc.value.message_dict
    assert "99999" in exc.value.message_dict["communes"][0]
    assert counts() == before


def test_commune_outside_the_region_is_refused(hdf, actors, owner):
    with pytest.raises(ValidationError) as exc:
        create(hdf, actors["instructor"], owner, communes=["75056"])
    assert "hors de la région" in exc.value.message_dict["communes"][0]


def test_wrong_siret_check_digit_is_refused(hdf, actors):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.owner_create(
            actor=actors["instructor"],
            name="Ville d'Amiens",
            legal_category="commune",
            siret="21800019800019",  # the valid one ends in 8
        )
    assert "siret" in exc.value.message_dict
    assert "clé de contrôle" in exc.value.message_dict["siret"][0]
    assert counts() == before


def test_owner_identifiers(hdf, actors):
    a = actors["instructor"]
    owner = services.owner_create(
        actor=a, name="Ville d'Amiens", legal_category="commune", siret="218 000 198 00018"
    )
    assert owner.siret == "21800019800018"
    asso = services.owner_create(
        actor=a, name="Les Amis du Musée", legal_category="association", rna="W802001234"
    )
    assert asso.rna == "W802001234"
    with pytest.raises(ValidationError) as exc:
        services.owner_create(
            actor=a, name="Association X", legal_category="association", rna="X12"
        )
    assert "rna" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.owner_create(actor=a, name="Sans numéro", legal_category="association")
    assert "rna" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.owner_create(
            actor=a, name="Doublon", legal_category="commune", siret="21800019800018"
        )
    assert "Ville d'Amiens" in exc.value.message_dict["siret"][0]
    services.owner_update(actor=a, owner=owner, name="Commune d'Amiens")
    entry = AuditEntry.objects.filter(subject_type="operations.projectowner").first()
    assert entry is not None
    assert entry.changes["name"] == {"avant": "Ville d'Amiens", "après": "Commune d'Amiens"}


def test_negative_line_is_refused_naming_the_field(hdf, actors):
    op = make_operation(hdf)
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.financing_line_add(
            actor=actors["admin"],
            operation=op,
            financer_kind="partner",
            partner=Partner.objects.get(contract=hdf, code="region"),
            amount="-100",
        )
    assert "amount" in exc.value.message_dict
    assert "négatif" in exc.value.message_dict["amount"][0]
    assert counts() == before


def test_bad_amount_text_is_refused(hdf, actors):
    op = make_operation(hdf)
    with pytest.raises(ValidationError) as exc:
        services.financing_line_add(
            actor=actors["admin"], operation=op, financer_kind="owner", amount="beaucoup"
        )
    assert "amount" in exc.value.message_dict


def test_cofinancing_lines_cannot_be_contractualised(hdf, actors):
    op = make_operation(hdf)
    with pytest.raises(ValidationError) as exc:
        services.financing_line_add(
            actor=actors["admin"],
            operation=op,
            financer_kind="eu_fund",
            financer_label="FEDER",
            amount="1000",
            contractualised=True,
        )
    assert "contractualised" in exc.value.message_dict


def test_dates_and_costs(hdf, actors, owner):
    with pytest.raises(ValidationError) as exc:
        create(
            hdf,
            actors["instructor"],
            owner,
            start_date=dt.date(2024, 1, 1),
            end_date=dt.date(2023, 1, 1),
            cost_ht="-1",
        )
    assert {"end_date", "cost_ht"} <= set(exc.value.message_dict)


def test_duplicate_code_is_refused(hdf, actors, owner):
    create(hdf, actors["instructor"], owner, code="HDF-1")
    with pytest.raises(ValidationError) as exc:
        create(hdf, actors["instructor"], owner, code="HDF-1")
    assert "code" in exc.value.message_dict


def test_line_objective_must_be_one_of_the_operation(hdf, actors):
    op = make_operation(hdf, objective="2.2")
    with pytest.raises(ValidationError) as exc:
        services.financing_line_add(
            actor=actors["admin"],
            operation=op,
            financer_kind="partner",
            partner=Partner.objects.get(contract=hdf, code="region"),
            objective=Objective.objects.get(contract=hdf, code="1.1"),
            amount="1000",
        )
    assert "objective" in exc.value.message_dict


# --- money is never deleted ---------------------------------------------------------------------


def test_cancel_keeps_the_line_with_its_reason(hdf, actors):
    op = make_operation(hdf)
    line = make_line(op, "etat", "10000")
    with pytest.raises(ValidationError) as exc:
        services.financing_line_cancel(actor=actors["admin"], line=line, reason=" ")
    assert "cancel_reason" in exc.value.message_dict
    services.financing_line_cancel(actor=actors["admin"], line=line, reason="doublon")
    line.refresh_from_db()
    assert line.status == LineStatus.CANCELLED and line.cancel_reason == "doublon"
    with pytest.raises(ValidationError):
        services.financing_line_update(actor=actors["admin"], line=line, amount="5")
    entry = AuditEntry.objects.filter(operation_id=op.pk).first()
    assert entry is not None and entry.changes["status"]["après"] == "cancelled"


def test_update_records_before_and_after_and_path(hdf, owner):
    from tests.operations.factories import make_user

    user = make_user("instructor", "etat")
    op = create(hdf, Actor(user=user, via="api"), owner)
    services.operation_update(
        actor=Actor(user=user, via="import"),
        operation=op,
        title="Nouveau titre",
        cost_ht="2600000",
        markers=[Marker.objects.get(contract=hdf)],
    )
    entry = AuditEntry.objects.filter(operation_id=op.pk).first()
    assert entry is not None
    assert entry.via == "import" and entry.user == user
    assert entry.changes["title"]["après"] == "Nouveau titre"
    assert entry.changes["cost_ht"] == {"avant": "2500000.00", "après": "2600000.00"}
    assert entry.changes["markers"]["après"] == ["emploi-formation-orientation"]
    vias = set(AuditEntry.objects.filter(operation_id=op.pk).values_list("via", flat=True))
    assert vias == {"api", "import"}


def test_main_objective_change_moves_the_lines_until_programmed(hdf, actors):
    op = make_operation(hdf, objective="2.2")
    line = make_line(op, "region", "1000")
    new = Objective.objects.get(contract=hdf, code="2.3")
    services.operation_update(actor=actors["instructor"], operation=op, objective=new)
    line.refresh_from_db()
    assert line.objective == new
    op.status = OperationStatus.PROGRAMMED
    op.save()
    with pytest.raises(ValidationError) as exc:
        services.operation_update(
            actor=actors["instructor"],
            operation=op,
            objective=Objective.objects.get(contract=hdf, code="2.4"),
        )
    assert "objective" in exc.value.message_dict


def test_plan_findings_say_by_how_much(hdf, actors):
    op = make_operation(hdf, cost_ht=Decimal("1000000"))
    make_line(op, "etat", "300000")
    make_line(op, "region", "300000")
    make_line(op, None, "100000")
    detail = selectors.operation_detail(contract=hdf, pk=op.pk, user=actors["admin"].user)
    assert detail.figures.public_aid_rate == Decimal("60.00")
    messages = " ".join(f.message for f in detail.findings)
    assert "il manque 300\u202f000,00\u00a0€" in messages
