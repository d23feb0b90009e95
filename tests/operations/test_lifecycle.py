"""The state machine: every edge of the table, every refusal, the log and the audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.operations import services
from cper.operations.lifecycle import EDGES, TRANSITIONS, operation_transition
from cper.operations.models import (
    Committee,
    Decision,
    DecisionOutcome,
    FinancingLine,
    OperationStatus,
    OperationTransition,
)
from tests.operations.factories import make_line, make_operation

S = OperationStatus


def committee(hdf):  # type: ignore[no-untyped-def]
    return Committee.objects.create(contract=hdf, kind="programmation", date=dt.date(2024, 3, 1))


def approved_decision(hdf, op):  # type: ignore[no-untyped-def]
    return Decision.objects.create(
        committee=committee(hdf), operation=op, outcome=DecisionOutcome.APPROVED
    )


@pytest.mark.parametrize("edge", TRANSITIONS, ids=lambda e: f"{e.source}->{e.target}")
def test_every_allowed_edge(hdf, actors, edge):
    op = make_operation(hdf, status=edge.source)
    decision = None
    if edge.needs_decision or edge.decision_or_reason:
        outcome = edge.needs_decision or edge.decision_or_reason
        decision = Decision.objects.create(committee=committee(hdf), operation=op, outcome=outcome)
    reason = "motif" if edge.needs_reason else ""
    log = operation_transition(
        actor=actors["instructor"],
        operation=op,
        to_status=edge.target,
        reason=reason,
        decision=decision,
    )
    op.refresh_from_db()
    assert op.status == edge.target
    assert (log.from_status, log.to_status, log.user) == (
        edge.source,
        edge.target,
        actors["instructor"].user,
    )
    entry = AuditEntry.objects.get(operation_id=op.pk)
    assert entry.changes["status"] == {"avant": edge.source, "après": edge.target}


ALL_PAIRS = [(a, b) for a in S.values for b in S.values if a != b and (a, b) not in EDGES]


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=lambda p: f"{p[0]}->{p[1]}")
def test_every_other_transition_is_refused(hdf, actors, pair):
    source, target = pair
    op = make_operation(hdf, status=source)
    decision = approved_decision(hdf, op)
    with pytest.raises(ValidationError) as exc:
        operation_transition(
            actor=actors["admin"], operation=op, to_status=target, reason="x", decision=decision
        )
    assert "transition refusée" in exc.value.message_dict["status"][0]
    op.refresh_from_db()
    assert op.status == source
    assert not OperationTransition.objects.filter(operation=op).exists()
    assert not AuditEntry.objects.filter(operation_id=op.pk).exists()


def test_programmed_requires_an_approved_decision(hdf, actors):
    op = make_operation(hdf, status=S.UNDER_REVIEW)
    with pytest.raises(ValidationError) as exc:
        operation_transition(actor=actors["admin"], operation=op, to_status=S.PROGRAMMED)
    assert "exige une décision de comité" in exc.value.message_dict["status"][0]
    rejected = Decision.objects.create(
        committee=committee(hdf), operation=op, outcome=DecisionOutcome.REJECTED
    )
    with pytest.raises(ValidationError):
        operation_transition(
            actor=actors["admin"], operation=op, to_status=S.PROGRAMMED, decision=rejected
        )
    other = make_operation(hdf, status=S.UNDER_REVIEW)
    with pytest.raises(ValidationError) as exc:
        operation_transition(
            actor=actors["admin"],
            operation=op,
            to_status=S.PROGRAMMED,
            decision=approved_decision(hdf, other),
        )
    assert "autre opération" in exc.value.message_dict["status"][0]
    op.refresh_from_db()
    assert op.status == S.UNDER_REVIEW


@pytest.mark.parametrize("target", [S.ABANDONED, S.DRAFT, S.ADJOURNED, S.REJECTED])
def test_reason_is_required(hdf, actors, target):
    op = make_operation(hdf, status=S.UNDER_REVIEW)
    with pytest.raises(ValidationError) as exc:
        operation_transition(actor=actors["admin"], operation=op, to_status=target)
    assert "motif" in exc.value.message_dict["status"][0]
    operation_transition(actor=actors["admin"], operation=op, to_status=target, reason="dossier")
    assert OperationTransition.objects.get(operation=op).reason == "dossier"


@pytest.mark.parametrize("who", ["nord", "state", "observer", "public"])
def test_only_instructors_and_administrators_move_operations(hdf, actors, who):
    op = make_operation(hdf, status=S.DRAFT)
    with pytest.raises(PermissionDenied):
        operation_transition(actor=actors[who], operation=op, to_status=S.SUBMITTED)
    op.refresh_from_db()
    assert op.status == S.DRAFT


def test_unknown_status(hdf, actors):
    op = make_operation(hdf)
    with pytest.raises(ValidationError) as exc:
        operation_transition(actor=actors["admin"], operation=op, to_status="flying")
    assert "inconnu" in exc.value.message_dict["status"][0]


# --- through committees -------------------------------------------------------------------------


def test_decision_approved_programs_the_operation_with_its_amounts(hdf, actors):
    op = make_operation(hdf, status=S.SUBMITTED)
    state = make_line(op, "etat", "400000")
    region = make_line(op, "region", "300000")
    own = make_line(op, None, "300000")
    c = services.committee_create(
        actor=actors["instructor"], contract=hdf, kind="programmation", date=dt.date(2024, 6, 1)
    )
    services.committee_add_to_agenda(actor=actors["instructor"], committee=c, operation=op)
    decision = services.decision_record(
        actor=actors["instructor"],
        committee=c,
        operation=op,
        outcome="approved",
        amounts={state: "350000", region: Decimal("300000")},
        notes="avis favorable sous réserve",
    )
    op.refresh_from_db()
    assert op.status == S.PROGRAMMED
    assert [t.to_status for t in op.transitions.order_by("id")] == [S.UNDER_REVIEW, S.PROGRAMMED]
    assert op.transitions.order_by("id").last().decision == decision
    state.refresh_from_db()
    assert state.amount == Decimal("350000.00")  # the line follows the approved amount
    assert {a.financing_line_id: a.amount for a in decision.amounts.all()} == {
        state.pk: Decimal("350000.00"),
        region.pk: Decimal("300000.00"),
    }
    assert FinancingLine.objects.get(pk=own.pk).amount == Decimal("300000.00")
    actions = list(AuditEntry.objects.filter(operation_id=op.pk).values_list("action", flat=True))
    assert AuditAction.DECISION_RECORDED in actions
    assert AuditAction.LINE_APPROVED_AMOUNT in actions
    entry = AuditEntry.objects.get(operation_id=op.pk, action=AuditAction.DECISION_RECORDED)
    assert entry.changes["outcome"] == {"avant": None, "après": "approved"}
    moves = AuditEntry.objects.filter(
        operation_id=op.pk, action=AuditAction.OPERATION_STATUS_CHANGED
    ).order_by("id")
    assert [e.changes["status"]["après"] for e in moves] == [S.UNDER_REVIEW, S.PROGRAMMED]
    with pytest.raises(ValidationError):  # one decision per committee and operation
        services.decision_record(
            actor=actors["instructor"], committee=c, operation=op, outcome="approved"
        )


def test_adjourned_then_approved_by_a_later_committee(hdf, actors):
    op = make_operation(hdf, status=S.UNDER_REVIEW)
    make_line(op, "region", "1000")
    first = services.committee_create(
        actor=actors["admin"], contract=hdf, kind="programmation", date=dt.date(2024, 1, 1)
    )
    services.decision_record(
        actor=actors["admin"], committee=first, operation=op, outcome="adjourned", notes="à revoir"
    )
    op.refresh_from_db()
    assert op.status == S.ADJOURNED
    second = services.committee_create(
        actor=actors["admin"], contract=hdf, kind="programmation", date=dt.date(2024, 4, 1)
    )
    services.decision_record(
        actor=actors["admin"], committee=second, operation=op, outcome="approved"
    )
    op.refresh_from_db()
    assert op.status == S.PROGRAMMED
    assert [t.to_status for t in op.transitions.order_by("id")] == [
        S.ADJOURNED,
        S.UNDER_REVIEW,
        S.PROGRAMMED,
    ]


def test_decisions_are_refused_on_a_draft_and_for_partner_managers(hdf, actors):
    op = make_operation(hdf, status=S.DRAFT)
    make_line(op, "region", "1000")
    c = committee(hdf)
    with pytest.raises(ValidationError) as exc:
        services.decision_record(
            actor=actors["admin"], committee=c, operation=op, outcome="approved"
        )
    assert "operation" in exc.value.message_dict
    op.status = S.UNDER_REVIEW
    op.save()
    with pytest.raises(PermissionDenied):
        services.decision_record(
            actor=actors["nord"], committee=c, operation=op, outcome="approved"
        )
    assert not Decision.objects.filter(operation=op).exists()


def test_an_approval_without_any_partner_amount_is_refused(hdf, actors):
    op = make_operation(hdf, status=S.UNDER_REVIEW)
    make_line(op, None, "1000")
    with pytest.raises(ValidationError) as exc:
        services.decision_record(
            actor=actors["admin"], committee=committee(hdf), operation=op, outcome="approved"
        )
    assert "amounts" in exc.value.message_dict
    op.refresh_from_db()
    assert op.status == S.UNDER_REVIEW and not Decision.objects.filter(operation=op).exists()
