"""`movements_record_many`, the one write path of the ledger (`movement_record` is a batch of
one): after any sequence of batches the ledger keeps its invariants, every recorded movement is
audited and the summaries equal their recomputation; a replayed batch writes nothing; its
idempotency (also under concurrency, on PostgreSQL), permissions and group semantics."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cper.accounts.models import Organisation, Role, User
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.finance import rules, services, summaries
from cper.finance.models import LineState, Movement
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


def _run(lines, seq, cuts: list[int]) -> list[services.DraftOutcome]:  # type: ignore[no-untyped-def]
    """Record the steps by batches cut before `cuts` (never inside a group): a step cancels an
    earlier step of its batch by index, one of an earlier batch by its movement's id (`NOWHERE`
    when it was refused)."""
    groups: list[int] = []
    group = 0
    for i, step in enumerate(seq):
        if not (step[6] and i):
            group += 1
        groups.append(group)
    bounds = sorted({0, len(seq), *(c for c in cuts if 0 < c < len(seq))})
    bounds = [b for b in bounds if b in (0, len(seq)) or groups[b] != groups[b - 1]]
    made: dict[int, int] = {}  # step → movement id
    outcomes: list[services.DraftOutcome] = []
    for start, end in itertools.pairwise(bounds):
        drafts = []
        for k in range(start, end):
            line, kind, day, cents, target, key, _ = seq[k]
            target = target if target is not None and target < k else None
            drafts.append(
                MovementDraft(
                    financing_line=lines[line].pk,
                    kind=kind,
                    date=START + dt.timedelta(days=day),
                    amount=Decimal(cents).scaleb(-2),
                    reference=f"R-{k}",
                    idempotency_key=key,
                    cancels=made.get(target, NOWHERE)
                    if target is not None and target < start
                    else None,
                    cancels_draft=target - start
                    if target is not None and target >= start
                    else None,
                    note=f"étape {k}",
                    group=groups[k],
                )
            )
        result = services.movements_record_many(actor=F.SYSTEM, movements=drafts)
        for k, o in enumerate(result.outcomes, start=start):
            if o.status == services.CREATED:
                assert o.movement is not None
                made[k] = o.movement.pk
        outcomes += result.outcomes
    return outcomes


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
def test_any_sequence_of_batches_keeps_the_ledger_audit_and_summaries_right(hdf, seq, cuts):
    with transaction.atomic():
        lines = _lines(hdf)
        outcomes = _run(lines, seq, cuts)
        created = [o.movement for o in outcomes if o.status == services.CREATED]
        # what is recorded is what the outcomes say, each with its audit entry
        recorded = Movement.objects.filter(financing_line__in=lines)
        assert sorted(m.pk for m in recorded) == sorted(m.pk for m in created if m)
        audit = AuditEntry.objects.filter(subject_type="finance.movement")
        assert sorted((int(e.subject_id), e.action) for e in audit) == sorted(
            (m.pk, f"movement.{m.kind}") for m in recorded
        )
        # a refusal says why, in French, on a field
        for o in outcomes:
            if o.status == services.REFUSED:
                assert o.findings and all(f.message for f in o.findings)
            else:
                assert o.movement is not None and o.error is None
        # the rules hold on what was recorded, and the summaries equal their recomputation
        assert rules.ledger_breaches(hdf) == []
        assert rules.cancellation_breaches(hdf) == []
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
            # the Nord affects AP before committing (its partner requires it)
            draft(nord_line, "affectation", D(2022, 4, 1), "100.00", reference="N-0"),
            draft(nord_line, "commitment", D(2022, 4, 1), "100.00", reference="N-1"),
            draft(line, "commitment", D(2022, 4, 1), "100.00", reference="E-1"),
            draft(nord_line, "payment", D(2022, 4, 2), "50.00", reference="N-2"),
        ],
    )
    assert [o.status for o in result.outcomes] == ["created", "created", "refused", "created"]
    assert isinstance(result.outcomes[2].error, PermissionDenied)
    assert "n'est pas votre organisation" in str(result.outcomes[2].error)
    assert not Movement.objects.filter(financing_line=line).exists()
    created = Movement.objects.filter(financing_line=nord_line)
    assert {m.recorded_by for m in created} == {manager} and {m.via for m in created} == {"web"}
    entries = AuditEntry.objects.filter(subject_type="finance.movement")
    assert entries.count() == 3 and {e.user for e in entries} == {manager}


def test_movements_that_cancel_out_in_a_batch_leave_the_summaries_right(hdf, line):
    result = services.movements_record_many(
        actor=F.SYSTEM,
        movements=[
            draft(line, "commitment", D(2022, 4, 1), "100.00", reference="EJ-1"),
            draft(
                line, "decommitment", D(2022, 4, 1), "100.00", reference="DEJ-1", cancels_draft=0
            ),
        ],
    )
    assert [o.status for o in result.outcomes] == ["created", "created"]
    assert result.created[1].cancels_id == result.created[0].pk
    assert LineState.objects.get(pk=line.pk).committed == 0
    assert summaries.verify(hdf) == []


def test_one_movement_is_a_batch_of_one(line):
    """`movement_record` raises what the batch's outcome holds, and returns a replayed movement."""
    kwargs = dict(actor=F.SYSTEM, financing_line=line, kind="commitment", date=D(2022, 4, 1))
    first = services.movement_record(
        **kwargs, amount="10.00", reference="EJ-1", idempotency_key="k"
    )
    again = services.movement_record(
        **kwargs, amount="10.00", reference="EJ-1", idempotency_key="k"
    )
    assert again.pk == first.pk and Movement.objects.filter(financing_line=line).count() == 1
    with pytest.raises(MovementRefused, match="précède le début du contrat") as exc:
        services.movement_record(**{**kwargs, "date": D(2020, 1, 1)}, amount="1", reference="X")
    assert exc.value.findings[0].field == "date"
    with pytest.raises(MovementRefused, match="ligne de financement n° 999999999 introuvable"):
        services.movement_record(
            **{**kwargs, "financing_line": 999999999}, amount="1", reference="X"
        )


def test_a_batch_audits_each_movement_as_the_movement_names_itself(line):
    """The batch writes the trail from its rows, not through the model: the entry still names
    the movement as `str(movement)` does and holds its values as the trail writes them."""
    result = services.movements_record_many(
        actor=F.SYSTEM,
        movements=[
            draft(line, "commitment", D(2022, 4, 1), "100.00", reference="EJ-1"),
            draft(line, "payment", D(2022, 5, 1), "60.50", reference="M-1"),
            draft(
                line,
                "payment_cancellation",
                D(2022, 5, 9),
                "0.50",
                reference="A-1",
                cancels_draft=1,
            ),
        ],
    )
    for movement in result.created:
        entry = AuditEntry.objects.get(subject_type="finance.movement", subject_id=str(movement.pk))
        stored = Movement.objects.get(pk=movement.pk)
        assert entry.subject_repr == str(stored) == str(movement)
        assert entry.changes == {
            "ligne": line.pk,
            "nature": stored.kind,
            "date": stored.date.isoformat(),
            "montant": str(stored.amount),
            "référence": stored.reference,
            "annule": stored.cancels_id,
        }
        assert entry.operation_id == line.operation_id
    assert result.created[2].cancels_id == result.created[1].pk


@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_concurrently_on_two_lines_is_stored_once(hdf):
    """Two writers lock different lines, both find the key unused, both insert: the unique index
    refuses the second, whose batch is checked again and refused for the key."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: the race needs PostgreSQL (DATABASE_URL)")
    op = F.operation(hdf, programmed_on=D(2022, 3, 15))
    lines = [F.line(op, "etat", "1000.00"), F.line(op, "region", "1000.00")]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def write(line) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait(timeout=60)
            F.record(line, "commitment", D(2022, 4, 1), "10.00", idempotency_key="race")
            results.append("created")
        except MovementRefused as exc:
            results.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(x,)) for x in lines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Movement.objects.filter(idempotency_key="race").count() == 1
    assert len(results) == 2 and sorted(results)[0] == "created"  # neither crashed
    assert all(r == "created" or "a déjà servi pour un autre mouvement" in r for r in results)
