"""The register's writes keep the execution summaries in step themselves, in their transaction:
no signal is connected, and after every kind of write the stored summaries equal their
recomputation from the register and the ledger (`summaries.verify`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from cper.contracts.models import ContractTerritory, Marker, Objective, Partner
from cper.finance import summaries
from cper.operations import bulk, services
from cper.operations.lifecycle import operation_transition
from cper.operations.models import (
    Committee,
    FinancingLine,
    Operation,
    OperationCommune,
    OperationStatus,
    OperationTransition,
)
from cper.territories.models import ProjectTerritory
from tests.operations.factories import OwnerFactory

S = OperationStatus


def test_no_signal_keeps_the_summaries():
    for signal in (post_save, post_delete, pre_delete):
        for model in (FinancingLine, Operation, OperationTransition, OperationCommune, Committee):
            assert not signal.has_listeners(model), (signal, model)
        assert not signal.has_listeners(ContractTerritory)
    for through in (
        Operation.markers.through,
        ProjectTerritory.communes.through,
        ProjectTerritory.epcis.through,
    ):
        assert not m2m_changed.has_listeners(through), through


def _clean(contract) -> None:  # type: ignore[no-untyped-def]
    assert summaries.verify(contract) == []


def test_every_write_of_the_register_leaves_the_summaries_exact(hdf, actors):
    admin = actors["admin"]
    obj = {o.code: o for o in Objective.objects.filter(contract=hdf)}
    partner = {p.code: p for p in Partner.objects.filter(contract=hdf)}
    op = services.operation_create(
        actor=admin,
        contract=hdf,
        title="Pôle d'échanges",
        owner=OwnerFactory(),
        objective=obj["2.2"],
        communes=["59350"],
        secondary_objectives=[obj["2.1"]],
        cost_ht="2000000",
    )
    state = services.financing_line_add(
        actor=admin, operation=op, financer_kind="partner", partner=partner["etat"], amount="500000"
    )
    region = services.financing_line_add(
        actor=admin, operation=op, financer_kind="partner", partner=partner["region"], amount="1000"
    )
    _clean(hdf)
    services.financing_line_update(actor=admin, line=state, amount="600000")
    _clean(hdf)
    services.financing_line_update(actor=admin, line=region, objective=obj["2.1"])
    _clean(hdf)
    services.operation_update(actor=admin, operation=op, communes=["80021", "59350"])
    _clean(hdf)
    services.operation_update(
        actor=admin, operation=op, markers=list(Marker.objects.filter(contract=hdf)[:2])
    )
    _clean(hdf)
    services.operation_update(actor=admin, operation=op, objective=obj["2.1"])
    _clean(hdf)
    operation_transition(actor=admin, operation=op, to_status=S.SUBMITTED)
    _clean(hdf)
    committee = services.committee_create(
        actor=admin, contract=hdf, kind="programmation", date=dt.date(2024, 3, 1)
    )
    services.decision_record(
        actor=admin,
        committee=committee,
        operation=op,
        outcome="approved",
        amounts={state: Decimal("550000")},
    )
    op.refresh_from_db()
    assert op.status == S.PROGRAMMED
    row = summaries.states_for([state.pk])[state.pk]
    assert row.programmed_on == dt.date(2024, 3, 1)
    _clean(hdf)
    services.committee_update(actor=admin, committee=committee, date=dt.date(2024, 2, 1))
    assert summaries.states_for([state.pk])[state.pk].programmed_on == dt.date(2024, 2, 1)
    _clean(hdf)
    services.financing_line_cancel(actor=admin, line=region, reason="retrait")
    _clean(hdf)
    operation_transition(actor=admin, operation=op, to_status=S.ABANDONED, reason="arrêt")
    _clean(hdf)


def test_a_batch_of_new_operations_leaves_the_summaries_exact(hdf, actors):
    obj = Objective.objects.get(contract=hdf, code="2.2")
    etat = Partner.objects.get(contract=hdf, code="etat")
    drafts = [
        bulk.OperationDraft(
            title=f"Opération {i}",
            owner=OwnerFactory(),
            objective=obj,
            communes=["59350"],
            lines=[bulk.LineDraft(financer_kind="partner", partner=etat, amount=Decimal("1000"))],
            status=S.PROGRAMMED if i % 2 else S.SUBMITTED,
            committee=bulk.CommitteeDraft(kind="programmation", date=dt.date(2023, 5, 1)),
        )
        for i in range(4)
    ]
    outcomes = bulk.operations_create_many(actor=actors["admin"], contract=hdf, drafts=drafts)
    assert not [o.refusal for o in outcomes if o.refusal]
    created = [o.operation for o in outcomes]
    assert FinancingLine.objects.filter(operation__in=created).count() == 4
    _clean(hdf)
