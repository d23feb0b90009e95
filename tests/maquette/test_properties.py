"""Property-based tests: any sequence of amendments, valid or not, keeps the maquette sound.

For each generated sequence, a model in plain Python predicts which amendments are valid.
Valid ones are recorded; invalid ones are refused and leave the database unchanged. After
each step: version n = version 0 + the changes of amendments 1…n, and no partner × objective ×
year allocation is negative in any version.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.maquette.models import Allocation, Amendment
from cper.maquette.selectors import maquette_amounts, version_changes
from cper.maquette.services import AllocationChange, MaquetteError, amendment_create
from tests.maquette.factories import small_contract

PARTNERS = ["a", "b"]
OBJECTIVES = ["1.1", "1.2", "2.1"]
YEARS = [2021, 2022, 2023]

change = st.builds(
    AllocationChange,
    partner=st.sampled_from(PARTNERS),
    objective=st.sampled_from(OBJECTIVES),
    year=st.sampled_from(YEARS),
    amount=st.integers(min_value=-150, max_value=150).map(lambda n: Decimal(n)),
)
amendment = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["addition", "redeployment", "mixed"]),
        "changes": st.lists(change, min_size=0, max_size=5),
        "balance": st.booleans(),  # make a redeployment balance by construction
    }
)


def _balanced(a: dict) -> list[AllocationChange]:
    changes = list(a["changes"])
    if a["kind"] == "redeployment" and a["balance"] and changes:
        rest = -sum(Decimal(c.amount) for c in changes)
        if rest:
            changes.append(AllocationChange("a", "1.1", 2021, rest))
    return changes


def _predict_valid(cells: dict, kind: str, changes: list[AllocationChange]) -> bool:
    if not changes or any(Decimal(c.amount) == 0 for c in changes):
        return False
    if kind == "addition" and any(Decimal(c.amount) < 0 for c in changes):
        return False
    if kind == "redeployment" and sum(Decimal(c.amount) for c in changes) != 0:
        return False
    after = dict(cells)
    for c in changes:
        key = (c.partner, c.objective, c.year)
        after[key] = after.get(key, Decimal(0)) + Decimal(c.amount)
    return all(v >= 0 for v in after.values())


class Rollback(Exception):
    pass


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(amendment, min_size=1, max_size=5))
def test_any_sequence_of_amendments_keeps_versions_additive_and_non_negative(db, sequence):
    try:
        with transaction.atomic():
            small = small_contract()
            contract = small.contract
            v0 = maquette_amounts(
                contract=contract, version=0, group_by=("partner", "objective", "year")
            )
            cells = {k: v for k, v in v0.items()}
            applied: list[list[AllocationChange]] = []
            for i, a in enumerate(sequence):
                changes = _balanced(a)
                valid = _predict_valid(cells, a["kind"], changes)
                before = (
                    Allocation.objects.count(),
                    Amendment.objects.count(),
                    AuditEntry.objects.count(),
                )
                number = len(applied) + 1
                try:
                    amendment_create(
                        actor=Actor.system(),
                        contract=contract,
                        number=number,
                        title=f"avenant {i}",
                        kind=a["kind"],
                        effective_on=dt.date(2022, 1, 1) + dt.timedelta(days=i),
                        changes=changes,
                    )
                except MaquetteError:
                    assert not valid, "a valid amendment was refused"
                    after = (
                        Allocation.objects.count(),
                        Amendment.objects.count(),
                        AuditEntry.objects.count(),
                    )
                    assert after == before, "a refused amendment wrote something"
                    continue
                assert valid, "an invalid amendment was accepted"
                applied.append(changes)
                for c in changes:
                    key = (c.partner, c.objective, c.year)
                    cells[key] = cells.get(key, Decimal(0)) + Decimal(c.amount)

            # version n = version 0 + all changes of amendments 1..n
            expected: dict = defaultdict(lambda: Decimal(0), v0)
            for n, changes in enumerate(applied, start=1):
                for c in changes:
                    expected[(c.partner, c.objective, c.year)] += Decimal(c.amount)
                got = maquette_amounts(
                    contract=contract, version=n, group_by=("partner", "objective", "year")
                )
                assert {k: v for k, v in got.items()} == {
                    k: v for k, v in expected.items() if k in got or v
                }
                assert all(v >= 0 for v in got.values())
            # and version by version, no negative cell
            running: dict = {}
            for changes in version_changes(contract=contract).values():
                for key, delta in changes.items():
                    running[key] = running.get(key, Decimal(0)) + delta
                    assert running[key] >= 0
            raise Rollback
    except Rollback:
        pass
