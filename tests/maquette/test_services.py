"""amendment_create and allocation_initial_set: validated by the rules, atomic, audited."""

import datetime as dt
from decimal import Decimal

import pytest

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.maquette.models import Allocation, Amendment
from cper.maquette.selectors import maquette_amounts
from cper.maquette.services import (
    AllocationChange,
    MaquetteError,
    allocation_initial_set,
    allocations_write,
    amendment_create,
)

D = dt.date(2022, 6, 1)


def _state():
    return (
        Allocation.objects.count(),
        Amendment.objects.count(),
        AuditEntry.objects.count(),
    )


def _create(small, changes, **kw):
    args = dict(
        actor=Actor.cli(),
        contract=small.contract,
        number=1,
        title="Avenant de test",
        kind="mixed",
        effective_on=D,
        changes=changes,
    )
    args.update(kw)
    return amendment_create(**args)


def test_a_valid_amendment_is_the_next_version_and_is_audited(small):
    a = _create(
        small,
        [
            AllocationChange("a", "1.1", 2022, "-40.00"),
            {"partner": "a", "objective": "2.1", "year": 2022, "amount": Decimal("40.00")},
        ],
        kind="redeployment",
        adopted_on=dt.date(2022, 5, 1),
        signed_on=D,
        decision_ref="délibération n°1",
        rationale="test",
    )
    assert a.number == 1 and a.changes.count() == 2
    v1 = maquette_amounts(
        contract=small.contract, version=1, group_by=("partner", "objective", "year")
    )
    assert v1[("a", "1.1", 2022)] == Decimal("60.00") and v1[("a", "2.1", 2022)] == Decimal(
        "140.00"
    )
    assert maquette_amounts(contract=small.contract, as_of=dt.date(2022, 5, 31)) == (
        maquette_amounts(contract=small.contract, version=0)
    )
    actions = list(
        AuditEntry.objects.filter(contract_id=small.contract.pk).values_list("action", flat=True)
    )
    assert actions.count(AuditAction.AMENDMENT_CHANGE) == 2
    assert AuditAction.AMENDMENT_RECORDED in actions
    line = a.changes.get(objective__code="2.1")
    assert line.budget_nature == small.partners[0].budget_nature


@pytest.mark.parametrize(
    ("changes", "kw", "where", "words"),
    [
        (
            [AllocationChange("a", "1.1", 2022, "-100.01")],
            {},
            "changement n°1",
            "deviendrait négative",
        ),
        (
            [AllocationChange("a", "1.1", 2022, "10"), AllocationChange("b", "1.1", 2022, "-5")],
            {"kind": "redeployment"},
            "changement n°2",
            "non équilibré",
        ),
        ([AllocationChange("zz", "1.1", 2022, "10")], {}, "changement n°1", "partenaire inconnu"),
        ([AllocationChange("a", "7.7", 2022, "10")], {}, "changement n°1", "objectif inconnu"),
        ([AllocationChange("a", "1.1", 2030, "10")], {}, "changement n°1", "hors de la période"),
        ([AllocationChange("a", "1.1", 2022, "0")], {}, "changement n°1", "changement nul"),
        ([AllocationChange("a", "1.1", 2022, "abc")], {}, "changement n°1", "montant invalide"),
        (
            [AllocationChange("a", "1.1", 2022, "-1")],
            {"kind": "addition"},
            "changement n°1",
            "ne retire pas",
        ),
        (
            [AllocationChange("a", "1.1", 2022, "1", programme="P999")],
            {},
            "changement n°1",
            "programme LOLF inconnu",
        ),
        (
            [AllocationChange("a", "1.1", 2022, "1")],
            {"effective_on": dt.date(2031, 1, 1)},
            "avenant",
            "hors de la période",
        ),
        (
            [AllocationChange("a", "1.1", 2022, "1")],
            {"number": 3},
            "avenant",
            "le prochain est le n°1",
        ),
        ([AllocationChange("a", "1.1", 2022, "1")], {"kind": "gift"}, "avenant", "nature inconnue"),
        ([], {}, "avenant", "aucun changement"),
    ],
)
def test_bad_amendments_are_refused_naming_the_line_and_nothing_is_written(
    small, changes, kw, where, words
):
    before = _state()
    with pytest.raises(MaquetteError) as excinfo:
        _create(small, changes, **kw)
    assert any(e.where == where and words in e.message for e in excinfo.value.errors), [
        str(e) for e in excinfo.value.errors
    ]
    assert _state() == before


def test_negative_is_checked_against_the_maquette_after_previous_amendments(small):
    _create(small, [AllocationChange("a", "1.1", 2022, "-60")])
    with pytest.raises(MaquetteError, match="deviendrait négative"):
        _create(small, [AllocationChange("a", "1.1", 2022, "-41")], number=2)
    a2 = _create(small, [AllocationChange("a", "1.1", 2022, "-40")], number=2)
    assert maquette_amounts(
        contract=small.contract,
        version=a2.number,
        filters={"partner": "a", "objective": "1.1", "year": 2022},
    ) == {("a", "1.1"): Decimal("0.00")}


def test_an_amendment_cannot_take_effect_before_the_previous_one(small):
    _create(small, [AllocationChange("a", "1.1", 2022, "5")], effective_on=dt.date(2022, 6, 1))
    with pytest.raises(MaquetteError, match="avant l'avenant n°1"):
        _create(
            small,
            [AllocationChange("a", "1.1", 2022, "5")],
            number=2,
            effective_on=dt.date(2022, 1, 1),
        )


def test_allocation_initial_set_edits_version_0_and_refuses_a_negative_later_version(small):
    line = allocation_initial_set(
        actor=Actor.cli(),
        contract=small.contract,
        partner="a",
        objective="1.1",
        year=2022,
        amount="150",
    )
    assert line is not None and line.amount == Decimal("150.00")
    assert AuditEntry.objects.filter(action=AuditAction.ALLOCATION_UPDATED).count() == 1
    _create(small, [AllocationChange("a", "1.1", 2022, "-120")])
    before = _state()
    with pytest.raises(MaquetteError, match="après l’avenant n°1"):
        allocation_initial_set(
            actor=Actor.cli(),
            contract=small.contract,
            partner="a",
            objective="1.1",
            year=2022,
            amount="100",
        )
    assert _state() == before
    with pytest.raises(MaquetteError, match="objectif inconnu"):
        allocation_initial_set(
            actor=Actor.cli(),
            contract=small.contract,
            partner="a",
            objective="9.9",
            year=2022,
            amount="1",
        )
    assert (
        allocation_initial_set(
            actor=Actor.cli(),
            contract=small.contract,
            partner="b",
            objective="2.1",
            year=2021,
            amount="0",
        )
        is None
    )
    assert not Allocation.objects.filter(
        contract=small.contract, partner__code="b", objective__code="2.1", year=2021
    ).exists()


def test_allocations_write_makes_version_0_exactly_the_drafts_and_audits_each_line(small):
    # Version 0: 2 partners × 3 objectives × 3 years of 100.00. The drafts keep one line as it
    # is, change one, add one and name no other: those are deleted.
    drafts = [
        AllocationChange("a", "1.1", 2021, "100.00"),
        AllocationChange("a", "1.2", 2021, "250.00"),
        AllocationChange("b", "2.1", None, "30.00", note="études"),
    ]
    entries = AuditEntry.objects.count()
    done = allocations_write(
        actor=Actor.cli(), contract=small.contract, amendment=None, drafts=drafts
    )
    assert (done.created, done.updated, done.unchanged, done.deleted) == (1, 1, 1, 16)
    assert sorted(
        Allocation.objects.filter(contract=small.contract).values_list(
            "partner__code", "objective__code", "year", "amount"
        ),
        key=str,
    ) == sorted(
        [
            ("a", "1.1", 2021, Decimal("100.00")),
            ("a", "1.2", 2021, Decimal("250.00")),
            ("b", "2.1", None, Decimal("30.00")),
        ],
        key=str,
    )
    written = AuditEntry.objects.order_by("id")[entries:]
    assert [e.action for e in written].count(AuditAction.CONTRACT_LOAD_DELETED) == 16
    assert {e.action for e in written} == {
        AuditAction.CONTRACT_LOAD_DELETED,
        AuditAction.CONTRACT_LOAD_UPDATED,
        AuditAction.CONTRACT_LOAD_CREATED,
    }
    again = allocations_write(
        actor=Actor.cli(), contract=small.contract, amendment=None, drafts=drafts
    )
    assert (again.created, again.updated, again.unchanged, again.deleted) == (0, 0, 3, 0)
    assert AuditEntry.objects.count() == entries + 18
