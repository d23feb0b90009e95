"""`cper demo`: deterministic, valid, consistent with the maquette, fast enough."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.http import HttpRequest

from cper.audit.actions import MOVEMENT_ACTIONS, AuditAction
from cper.audit.models import AuditEntry
from cper.checks import BLOCKING, run_checks
from cper.demo.generator import demo_generate, maquette_matrix
from cper.finance import summaries
from cper.finance.models import Movement
from cper.operations.lifecycle import EDGES
from cper.operations.models import (
    PROGRAMMED_STATUSES,
    Decision,
    DecisionAmount,
    FinancingLine,
    Operation,
    OperationCommune,
    OperationTransition,
    ProjectOwner,
)
from cper.operations.rules import RNA_RE, siret_valid


def snapshot(contract) -> dict:  # type: ignore[no-untyped-def]
    """The generated content, without database ids or creation times."""
    ops = Operation.objects.filter(contract=contract)
    return {
        "operations": sorted(
            ops.values_list(
                "code", "title", "status", "objective__code", "departement_id", "epci_id",
                "owner__siret", "owner__rna", "owner__name", "cost_ht", "start_date", "end_date",
                "published",
            )
        ),
        "communes": sorted(
            OperationCommune.objects.filter(operation__in=ops).values_list(
                "operation__code", "commune_id", "position"
            )
        ),
        "lines": sorted(
            FinancingLine.objects.filter(operation__in=ops).values_list(
                "operation__code", "financer_kind", "partner__code", "financer_label", "amount",
                "contractualised", "programme__code", "year",
            ),
            key=str,
        ),
        "decisions": sorted(
            Decision.objects.filter(operation__in=ops).values_list(
                "operation__code", "committee__date", "outcome"
            ),
            key=str,
        ),
        "transitions": sorted(
            OperationTransition.objects.filter(operation__in=ops).values_list(
                "operation__code", "from_status", "to_status", "at"
            )
        ),
        "markers": sorted(ops.values_list("code", "markers__code"), key=str),
    }  # fmt: skip


def generated(contract, seed: int, operations: int) -> dict:  # type: ignore[no-untyped-def]
    """Generate, take the snapshot, and roll the generation back."""
    sid = transaction.savepoint()
    demo_generate(contract=contract, seed=seed, operations=operations)
    out = snapshot(contract)
    transaction.savepoint_rollback(sid)
    assert not Operation.objects.filter(contract=contract).exists()
    return out


def test_same_seed_same_data_other_seed_other_data(hdf):
    first = generated(hdf, 11, 150)
    assert len(first["operations"]) == 150
    assert generated(hdf, 11, 150) == first
    assert generated(hdf, 12, 150)["operations"] != first["operations"]


def test_generated_data_follows_the_register_rules(hdf):
    report = demo_generate(contract=hdf, seed=5, operations=400)
    assert report.counts["opérations"] == 400
    for owner in ProjectOwner.objects.all():
        assert (owner.siret and siret_valid(owner.siret)) or (owner.rna and RNA_RE.match(owner.rna))
        assert owner.provenance == "illustrative"
    ops = Operation.objects.filter(contract=hdf).prefetch_related("operationcommune_set__commune")
    statuses = set()
    for op in ops:
        first = min(op.operationcommune_set.all(), key=lambda oc: oc.position).commune
        assert (op.departement_id, op.epci_id) == (first.departement_id, first.epci_id)
        assert op.published == (op.status in PROGRAMMED_STATUSES)
        statuses.add(op.status)
    assert len(statuses) >= 8  # spread over the lifecycle
    for t in OperationTransition.objects.filter(operation__contract=hdf):
        assert (t.from_status, t.to_status) in EDGES
        if t.to_status == "programmed":
            assert t.decision is not None and t.decision.outcome == "approved"
    for op in ops.filter(status__in=PROGRAMMED_STATUSES):
        assert op.transitions.filter(to_status="programmed", decision__outcome="approved").exists()
    # Programmed per partner × objective stays within the maquette used.
    matrix, _ = maquette_matrix(hdf)
    programmed: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for line in FinancingLine.objects.filter(
        operation__contract=hdf,
        operation__status__in=PROGRAMMED_STATUSES,
        contractualised=True,
    ):
        programmed[(line.partner_id, line.objective_id)] += line.amount
    assert programmed
    for key, amount in programmed.items():
        assert amount <= matrix[key], key
    # Decisions approve the partner lines.
    assert DecisionAmount.objects.exists()
    # Issue 18: written through the batch services, each row audited; adjournments and
    # rejections are their committee's decisions, operations under review on the next agenda.
    created = AuditEntry.objects.filter(action=AuditAction.OPERATION_CREATED, contract_id=hdf.pk)
    assert created.count() == 400
    for status, outcome in (("adjourned", "adjourned"), ("rejected", "rejected")):
        for op in ops.filter(status=status):
            assert op.transitions.get(to_status=status).decision.outcome == outcome
    for op in ops.filter(status="under_review"):
        assert op.decisions.get().outcome is None
    # The services go on after the demo's rows (numbers, ids).
    from cper.audit.services import Actor
    from cper.operations import services

    op = ops.first()
    assert op is not None
    new = services.operation_create(
        actor=Actor.cli(), contract=hdf, title="Après la démonstration", owner=op.owner,
        objective=op.objective,
    )  # fmt: skip
    assert new.code == "OP-000401"
    services.financing_line_add(actor=Actor.cli(), operation=new, financer_kind="owner", amount=1)


def test_command_users_if_empty_and_one_audit_entry(hdf, client):
    call_command("demo", "--operations", "60", "--no-finance", "--seed", "3")
    assert Operation.objects.filter(contract=hdf).count() == 60
    entries = AuditEntry.objects.filter(action=AuditAction.DEMO_GENERATED)
    assert entries.count() == 1
    assert entries.get().changes["opérations"]["après"] == 60
    # The login throttling (django-axes) needs the request that carries the attempt.
    assert client.login(request=HttpRequest(), username="nord", password="nord-demo")
    assert client.login(request=HttpRequest(), username="admin", password="admin-demo")
    call_command("demo", "--if-empty", "--no-finance")  # nothing more
    assert Operation.objects.filter(contract=hdf).count() == 60
    with pytest.raises(CommandError):
        call_command("demo", "--no-finance")


def test_unknown_contract(db):
    with pytest.raises(CommandError):
        call_command("demo", "--contract", "inconnu")


def test_the_register_alone_leaves_the_summaries_right(hdf):
    """`cper demo --no-finance` then `cper contract check`: no blocking finding (the register's
    rows used to bypass the summaries, reported as a mismatch)."""
    call_command("demo", "--operations", "60", "--no-finance", "--no-users")
    assert summaries.verify(hdf) == []
    assert [f.message for f in run_checks(hdf) if f.level == BLOCKING] == []


def test_the_demo_movements_go_through_the_ledger_service(hdf):
    call_command("demo", "--operations", "60", "--no-users", "--seed", "4")
    movements = Movement.objects.filter(financing_line__operation__contract=hdf)
    assert movements.exists() and {m.via for m in movements} == {"system"}
    audited = AuditEntry.objects.filter(
        subject_type="finance.movement", action__in=list(MOVEMENT_ACTIONS.values())
    )
    assert audited.count() == movements.count()  # each one audited, as any other write
    assert summaries.verify(hdf) == []
    assert [f.message for f in run_checks(hdf) if f.level == BLOCKING] == []
