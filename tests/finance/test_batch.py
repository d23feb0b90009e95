"""`movements_record_many` gives the movements, refusals, audit entries and summaries that
`movement_record` gives on the same drafts one by one (each group in its own savepoint); its
idempotency, permissions and group semantics."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cper.accounts.models import Organisation, Role, User
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.finance import services, summaries
from cper.finance.models import ExecutionCell, LineState, Movement
from cper.finance.services import MovementDraft, MovementRefused
from tests.finance import factories as F

D = dt.date
START = D(2021, 1, 1)
NOWHERE = 10**9  # the id of no movement


def _lines(hdf):  # type: ignore[no-untyped-def]
    a = F.operation(hdf, programmed_on=D(2022, 3, 15), markers=("emploi-formation-orientation",))
    b = F.operation(hdf, programmed_on=None, status="under_review", communes=("80021",))
    return [
        F.line(a, "etat", "1000.00"),
        F.line(a, "region", "500.00"),
        F.line(b, "etat", "300.00"),
    ]


steps = st.lists(
    st.tuples(
        st.integers(0, 2),  # line
        st.sampled_from(
            [
                "commitment",
                "commitment",
                "payment",
                "payment",
                "decommitment",
                "payment_cancellation",
            ]
        ),
        st.integers(0, 1900),  # day
        st.integers(-5, 60000),  # cents
        st.one_of(st.none(), st.integers(0, 30)),  # the earlier step it cancels
        st.sampled_from([None, None, None, "k1", "k2"]),  # idempotency key
        st.booleans(),  # in the group of the step before
    ),
    min_size=1,
    max_size=16,
)


def _normal(text: str) -> str:
    text = re.sub(r" \(n° \d+\)", "", text)
    text = re.sub(r"le mouvement n° \d+ n'existe pas", "ANNULÉ ABSENT", text)
    return re.sub(
        r"le mouvement annulé \(n° \d+ du lot\) n'a pas été enregistré", "ANNULÉ ABSENT", text
    )


def _state(lines, ids: dict[int, int]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the ledger, the audit trail and the summaries hold for these lines, movements named by
    the position of their step (`ids`: movement id → step)."""
    index = {line.pk: i for i, line in enumerate(lines)}
    contract = lines[0].operation.contract_id
    movements = Movement.objects.filter(financing_line__in=lines).order_by("id")
    audit = AuditEntry.objects.filter(
        subject_type="finance.movement", subject_id__in=[str(m.pk) for m in movements]
    ).order_by("id")
    return {
        "movements": [
            (
                ids[m.pk],
                index[m.financing_line_id],
                m.kind,
                m.date,
                m.amount,
                m.reference,
                ids.get(m.cancels_id) if m.cancels_id else None,
                m.via,
                m.idempotency_key,
                m.note,
            )
            for m in movements
        ],
        "audit": [
            (
                e.action,
                ids[int(e.subject_id)],
                e.subject_repr,
                e.via,
                e.contract_id,
                e.operation_id,
                e.message,
                {
                    **e.changes,
                    "ligne": index[e.changes["ligne"]],
                    "annule": ids.get(e.changes["annule"]) if e.changes["annule"] else None,
                },
            )
            for e in audit
        ],
        "states": sorted(
            LineState.objects.filter(pk__in=[x.pk for x in lines]).values_list(
                "line_id", "committed", "paid", "programmed"
            )
        ),
        "cells": sorted(
            ExecutionCell.objects.filter(contract_id=contract).values_list(
                "grain",
                "dim",
                "value",
                "period",
                "partner_id",
                "objective_id",
                "programmed",
                "committed",
                "paid",
            )
        ),
    }


def _drafts(lines, seq) -> list[tuple[int, MovementDraft, int | None]]:  # type: ignore[no-untyped-def]
    """(group, draft without its cancelled movement, the step it cancels) of each step."""
    out = []
    group = 0
    for i, (line, kind, day, cents, target, key, with_previous) in enumerate(seq):
        if not (with_previous and i):
            group += 1
        draft = MovementDraft(
            financing_line=lines[line].pk,
            kind=kind,
            date=START + dt.timedelta(days=day),
            amount=Decimal(cents).scaleb(-2),
            reference=f"R-{i}",
            idempotency_key=key,
            note=f"étape {i}",
            group=group,
        )
        out.append((group, draft, target if target is not None and target < i else None))
    return out


def _one_by_one(lines, seq) -> tuple[list[str], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Each draft through `movement_record`, each group in a savepoint."""
    planned = _drafts(lines, seq)
    outcomes: list[str] = [""] * len(planned)
    made: dict[int, int] = {}  # step → movement id
    i = 0
    while i < len(planned):
        j = i
        while j < len(planned) and planned[j][0] == planned[i][0]:
            j += 1
        sid = transaction.savepoint()
        done: dict[int, int] = {}
        for k in range(i, j):
            _, d, target = planned[k]
            try:
                m = services.movement_record(
                    actor=F.SYSTEM,
                    financing_line=d.financing_line,
                    kind=d.kind,
                    date=d.date,
                    amount=d.amount,
                    reference=d.reference,
                    idempotency_key=d.idempotency_key,
                    cancels=None if target is None else {**made, **done}.get(target, NOWHERE),
                    note=d.note,
                )
            except MovementRefused as exc:
                transaction.savepoint_rollback(sid)
                for other in range(i, j):
                    outcomes[other] = "refused (group)"
                outcomes[k] = f"refused: {_normal(str(exc))}"
                done = {}
                break
            known = {**made, **done}
            if m.pk in known.values():
                outcomes[k] = f"unchanged {next(s for s, pk in known.items() if pk == m.pk)}"
            else:
                outcomes[k] = "created"
                done[k] = m.pk
        else:
            transaction.savepoint_commit(sid)
        made.update(done)
        i = j
    return outcomes, _state(lines, {pk: s for s, pk in made.items()})


def _batched(lines, seq, cuts: list[int]) -> tuple[list[str], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The same drafts through `movements_record_many`, in batches cut before `cuts` (never
    inside a group); a cancelled step of the same batch is named by its index."""
    planned = _drafts(lines, seq)
    bounds = sorted({0, len(planned), *(c for c in cuts if 0 < c < len(planned))})
    bounds = [b for b in bounds if b in (0, len(planned)) or planned[b][0] != planned[b - 1][0]]
    outcomes: list[str] = []
    made: dict[int, int] = {}
    for start, end in itertools.pairwise(bounds):
        drafts = []
        for k in range(start, end):
            _, d, target = planned[k]
            if target is not None and target >= start:
                d = MovementDraft(**{**d.__dict__, "cancels_draft": target - start})
            elif target is not None:
                d = MovementDraft(**{**d.__dict__, "cancels": made.get(target, NOWHERE)})
            drafts.append(d)
        result = services.movements_record_many(actor=F.SYSTEM, movements=drafts)
        for k, o in enumerate(result.outcomes, start=start):
            if o.status == services.CREATED:
                assert o.movement is not None
                made[k] = o.movement.pk
                outcomes.append("created")
            elif o.status == services.UNCHANGED:
                assert o.movement is not None
                outcomes.append(
                    f"unchanged {next(s for s, pk in made.items() if pk == o.movement.pk)}"
                )
            elif o.with_group:
                outcomes.append("refused (group)")
            else:
                outcomes.append(f"refused: {_normal(str(o.error))}")
    return outcomes, _state(lines, {pk: s for s, pk in made.items()})


@settings(
    max_examples=int(os.environ.get("CPER_LEDGER_EXAMPLES", "10")),
    # The same examples on every run, so CI never spends minutes shrinking a new one; explore
    # more with CPER_LEDGER_EXAMPLES=… (and --hypothesis-seed=…).
    derandomize=not os.environ.get("CPER_LEDGER_EXAMPLES"),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seq=steps, cuts=st.lists(st.integers(0, 16), max_size=3))
@pytest.mark.django_db
def test_a_batch_equals_the_same_movements_recorded_one_by_one(hdf, seq, cuts):
    with transaction.atomic():
        lines = _lines(hdf)
        with transaction.atomic():
            expected = _one_by_one(lines, seq)
            transaction.set_rollback(True)
        got = _batched(lines, seq, cuts)
        assert got[0] == expected[0]
        assert got[1] == expected[1]
        assert summaries.verify(hdf) == []
        transaction.set_rollback(True)


@pytest.fixture
def line(hdf):  # type: ignore[no-untyped-def]
    return F.line(F.operation(hdf, programmed_on=D(2022, 3, 15)), "etat", "1000.00")


def draft(line, kind: str, day: dt.date, amount: str, **kwargs: Any) -> MovementDraft:  # type: ignore[no-untyped-def]
    return MovementDraft(
        financing_line=line.pk, kind=kind, date=day, amount=Decimal(amount), **kwargs
    )


def test_two_payments_of_one_batch_are_checked_against_each_other(line):
    result = services.movements_record_many(
        actor=F.SYSTEM,
        movements=[
            draft(line, "commitment", D(2022, 4, 1), "100.00", reference="EJ-1"),
            draft(line, "payment", D(2022, 5, 1), "60.00", reference="M-1"),
            draft(line, "payment", D(2022, 5, 2), "60.00", reference="M-2"),
            draft(line, "payment", D(2022, 5, 3), "40.00", reference="M-3"),
        ],
    )
    assert [o.status for o in result.outcomes] == ["created", "created", "refused", "created"]
    assert "dépasserait l'engagé" in str(result.outcomes[2].error)
    assert LineState.objects.get(pk=line.pk).paid == 10000


def test_replaying_a_batch_changes_nothing_and_a_changed_request_is_refused(line):
    drafts = [
        draft(line, "commitment", D(2022, 4, 1), "100.00", reference="EJ-1", idempotency_key="a"),
        draft(line, "payment", D(2022, 5, 1), "60.00", reference="M-1", idempotency_key="b"),
    ]
    first = services.movements_record_many(actor=F.SYSTEM, movements=drafts)
    before = (Movement.objects.count(), AuditEntry.objects.count())
    again = services.movements_record_many(actor=F.SYSTEM, movements=drafts)
    assert [o.status for o in again.outcomes] == ["unchanged", "unchanged"]
    assert [o.movement for o in again.outcomes] == [o.movement for o in first.outcomes]
    assert (Movement.objects.count(), AuditEntry.objects.count()) == before
    changed = services.movements_record_many(
        actor=F.SYSTEM, movements=[MovementDraft(**{**drafts[1].__dict__, "amount": "61.00"})]
    )
    assert changed.outcomes[0].status == "refused"
    assert "a déjà servi pour un autre mouvement" in str(changed.outcomes[0].error)


def test_a_refused_group_writes_nothing_and_later_drafts_do_not_see_it(line):
    result = services.movements_record_many(
        actor=F.SYSTEM,
        movements=[
            draft(line, "commitment", D(2022, 4, 1), "100.00", reference="EJ-1", group=1),
            draft(line, "payment", D(2022, 4, 2), "500.00", reference="M-1", group=1),
            draft(line, "payment", D(2022, 4, 3), "1.00", reference="M-2"),
        ],
    )
    assert [o.status for o in result.outcomes] == ["refused", "refused", "refused"]
    assert result.outcomes[0].with_group and not result.outcomes[1].with_group
    assert "aucun engagement" in str(result.outcomes[2].error)
    assert not Movement.objects.filter(financing_line=line).exists()


def test_a_nord_manager_batch_refuses_only_the_state_lines_drafts(hdf, line):
    nord_line = F.line(line.operation, "dep-59", "500.00")
    manager = User.objects.create_user(
        username="nord-batch",
        role=Role.PARTNER_MANAGER,
        organisation=Organisation.objects.get(code="departement-59"),
    )
    result = services.movements_record_many(
        actor=Actor(user=manager),
        movements=[
            draft(nord_line, "commitment", D(2022, 4, 1), "100.00", reference="N-1"),
            draft(line, "commitment", D(2022, 4, 1), "100.00", reference="E-1"),
            draft(nord_line, "payment", D(2022, 4, 2), "50.00", reference="N-2"),
        ],
    )
    assert [o.status for o in result.outcomes] == ["created", "refused", "created"]
    assert isinstance(result.outcomes[1].error, PermissionDenied)
    assert "n'est pas votre organisation" in str(result.outcomes[1].error)
    assert not Movement.objects.filter(financing_line=line).exists()
    created = Movement.objects.filter(financing_line=nord_line)
    assert {m.recorded_by for m in created} == {manager} and {m.via for m in created} == {"web"}
    entries = AuditEntry.objects.filter(subject_type="finance.movement")
    assert entries.count() == 2 and {e.user for e in entries} == {manager}


def test_movements_that_cancel_out_in_a_batch_leave_the_cells_one_by_one_leaves(hdf):
    seq = [
        (0, "commitment", 500, 10000, None, None, False),
        (0, "decommitment", 500, 10000, 0, None, False),
    ]
    lines = _lines(hdf)
    with transaction.atomic():
        expected = _one_by_one(lines, seq)
        transaction.set_rollback(True)
    assert expected[0] == ["created", "created"]
    assert _batched(lines, seq, []) == expected
