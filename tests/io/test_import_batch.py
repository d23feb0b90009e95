"""The batch path of the operations import writes exactly what the one-by-one services write.

`_OperationPlanner.batch` sends new operations through `cper.operations.bulk` in chunks; with it
off, every operation goes through `operation_create`, `financing_line_add`, `decision_record`…
Both are run on the same file from the same state and what they leave is compared: register,
transition log, decisions, audit trail (ids replaced by natural keys), summaries, report.
"""

from __future__ import annotations

import datetime as dt
import io as _io
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from cper.accounts.models import Role
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.finance.models import LineState, LineTag
from cper.io import exports, writers
from cper.io.imports import _OperationPlanner, import_operations
from cper.operations.models import (
    Committee,
    Decision,
    ExternalReference,
    FinancingLine,
    Operation,
    OperationTransition,
    ProjectOwner,
)
from tests.io.conftest import SIRET_A, csv_file
from tests.io.test_round_trip import dump, twin  # noqa: F401  (fixture)
from tests.operations.factories import make_user

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def _natural_keys(contract: Contract) -> dict[tuple[str, str], Any]:
    """(subject type, id) → a key that does not depend on ids, for the objects of a contract."""
    keys: dict[tuple[str, str], Any] = {}
    ops = {o.pk: o.code for o in Operation.objects.filter(contract=contract)}
    for pk, code in ops.items():
        keys[("operations.operation", str(pk))] = code
    rank: Counter[int] = Counter()
    for line in FinancingLine.objects.filter(operation__contract=contract).order_by("id"):
        rank[line.operation_id] += 1
        keys[("operations.financingline", str(line.pk))] = (
            ops[line.operation_id],
            rank[line.operation_id],
        )
    for d in Decision.objects.filter(operation__contract=contract).select_related("committee"):
        keys[("operations.decision", str(d.pk))] = (ops[d.operation_id], d.committee.date)
    for c in Committee.objects.filter(contract=contract):
        keys[("operations.committee", str(c.pk))] = (c.kind, c.date)
    for o in ProjectOwner.objects.all():
        keys[("operations.projectowner", str(o.pk))] = o.siret or o.rna
    return keys


def _state(contract: Contract, since: int, report: Any) -> dict[str, Any]:
    """Everything an import leaves, with ids replaced by natural keys."""
    keys = _natural_keys(contract)

    def nk(kind: str, pk: Any) -> Any:
        return keys.get((f"operations.{kind}", str(pk)), ("?", kind, pk))

    entries = []
    per_operation: dict[Any, list[str]] = {}
    for e in AuditEntry.objects.filter(pk__gt=since).order_by("id"):
        if e.subject_type.endswith(".importlog"):  # its id differs, its counts are compared
            continue
        changes = dict(e.changes)
        if "owner" in changes and changes["owner"]["après"]:
            owner_pk = changes["owner"]["après"].rsplit("(", 1)[1].rstrip(")")
            changes["owner"] = nk("projectowner", owner_pk)
        if "committee" in changes:
            changes["committee"] = nk("committee", changes["committee"]["après"])
        if "decision" in changes:
            changes["decision"] = nk("decision", changes["decision"]["après"])
        if "amounts" in changes:
            changes["amounts"] = sorted(
                (nk("financingline", k), v) for k, v in changes["amounts"]["après"].items()
            )
        subject = keys.get((e.subject_type, e.subject_id), e.subject_id)
        entries.append(
            (
                e.action,
                e.subject_type,
                repr(subject),
                repr(sorted(changes.items())),
                e.message,
                e.via,
            )
        )
        if e.operation_id:
            per_operation.setdefault(nk("operation", e.operation_id), []).append(e.action)
    line_ids = FinancingLine.objects.filter(operation__contract=contract).values_list(
        "pk", flat=True
    )
    states = sorted(
        (
            nk("financingline", s.line_id),
            s.programmed,
            s.counted,
            s.status,
            s.departement,
            s.epci,
            s.committed,
            s.paid,
            s.programmed_on,
        )
        for s in LineState.objects.filter(line_id__in=list(line_ids))
    )
    tags = sorted(
        (nk("financingline", t.state_id), t.kind, t.value)
        for t in LineTag.objects.filter(state_id__in=list(line_ids))
    )
    transitions = sorted(
        (
            nk("operation", t.operation_id),
            t.from_status,
            t.to_status,
            t.reason,
            t.user_id,
            nk("decision", t.decision_id) if t.decision_id else None,
        )
        for t in OperationTransition.objects.filter(operation__contract=contract)
    )
    decisions = sorted(
        (
            nk("decision", d.pk),
            d.outcome,
            d.notes,
            sorted((nk("financingline", a.financing_line_id), a.amount) for a in d.amounts.all()),
        )
        for d in Decision.objects.filter(operation__contract=contract)
    )
    refs = sorted(
        (nk("operation", r.operation_id), r.partner.code, r.reference)
        for r in ExternalReference.objects.filter(operation__contract=contract).select_related(
            "partner"
        )
    )
    return {
        "register": dump(contract),
        "audit": Counter(entries),
        "audit_order": per_operation,
        "summaries": (states, tags),
        "transitions": transitions,
        "decisions": decisions,
        "references": refs,
        "committees": sorted(
            Committee.objects.filter(contract=contract).values_list("kind", "date", "title")
        ),
        "owners": sorted(
            ProjectOwner.objects.values_list("name", "siret", "rna", "legal_category")
        ),
        "report": (
            report.created,
            report.updated,
            report.unchanged,
            report.rejected,
            [str(r) for r in report.rejections],
        ),
    }


def _import_both_ways(monkeypatch, contract, **kwargs) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """Import with the batch path off then on, each from the same state (rolled back after)."""
    out = []
    for batch in (False, True):
        monkeypatch.setattr(_OperationPlanner, "batch", batch)
        since = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        try:
            with transaction.atomic():
                report = import_operations(contract=contract, dry_run=False, **kwargs)
                out.append(_state(contract, since, report))
                raise _Rollback
        except _Rollback:
            pass
    return out[0], out[1]


@pytest.mark.parametrize("kind", ["lines", "operations"])
def test_batch_path_writes_what_the_services_write(monkeypatch, hdf, twin, admin_actor, kind):  # noqa: F811
    call_command("demo", "--operations", "120", "--no-users", "--no-finance", stdout=_io.StringIO())
    data = writers.render(exports.build(kind, hdf, user=admin_actor.user), "csv")
    one_by_one, batched = _import_both_ways(
        monkeypatch, twin, actor=admin_actor, source=data, file_name="demo.csv"
    )
    assert batched["report"][0] > 100 and not batched["report"][4]
    for part in one_by_one:
        assert batched[part] == one_by_one[part], part


def test_batch_path_rejects_the_same_rows_with_the_same_messages(monkeypatch, hdf, admin_actor):
    header = [
        "N° d'opération", "Intitulé de l'opération", "N° SIRET", "Maître d'ouvrage",
        "Code INSEE", "Objectif", "Statut", "Date du comité de programmation",
        "Part État", "Part Région",
    ]  # fmt: skip
    rows = [
        ["B-1", "Bonne opération", SIRET_A, "Ville de Lille", "59350", "2.2", "programmée",
         "15/03/2023", "1 000,00", "500"],
        ["B-2", "SIRET faux", "12345678901234", "X", "59350", "2.2", "", "", "10", ""],
        ["B-3", "Commune inconnue", SIRET_A, "Ville de Lille", "99999", "2.2", "", "", "10", ""],
        ["B-4", "Programmée sans comité", SIRET_A, "Ville de Lille", "59350", "2.2",
         "programmée", "", "10", ""],
        ["B-5", "Objectif inconnu", SIRET_A, "Ville de Lille", "59350", "9.9", "", "", "10", ""],
        ["B-6", "Montant texte", SIRET_A, "Ville de Lille", "59350", "2.2", "", "", "beaucoup", ""],
        ["B-7", "Autre bonne", SIRET_A, "Ville de Lille", "80021", "1.1", "déposée", "", "", "25"],
        ["B-8", "Programmée sans montant d'un partenaire", SIRET_A, "Ville de Lille", "59350",
         "2.2", "programmée", "20/06/2024", "0", ""],
    ]  # fmt: skip
    one_by_one, batched = _import_both_ways(
        monkeypatch,
        hdf,
        actor=admin_actor,
        source=csv_file([header, *rows]),
        file_name="mixte.csv",
        partial=True,
    )
    assert batched["report"][0] == 2 and batched["report"][3] == 6
    # The committee of B-8's date is not left behind by its rejected operation.
    assert [c[1] for c in batched["committees"]] == [dt.date(2023, 3, 15)]
    for part in one_by_one:
        assert batched[part] == one_by_one[part], part


def test_instructor_import_takes_its_lines_and_refuses_another_partners(monkeypatch, hdf):
    user = make_user(Role.INSTRUCTOR, username="instr-batch")
    actor = Actor(user=user, via="import")
    header = ["N° d'opération", "Intitulé de l'opération", "N° SIRET", "Maître d'ouvrage",
              "Code INSEE", "Objectif", "Part État", "FEDER"]  # fmt: skip
    rows = [
        ["I-1", "Seulement du FEDER", SIRET_A, "Ville de Lille", "59350", "2.2", "", "300"],
        ["I-2", "Une part de l'État", SIRET_A, "Ville de Lille", "59350", "2.2", "100", ""],
    ]
    one_by_one, batched = _import_both_ways(
        monkeypatch, hdf, actor=actor, source=csv_file([header, *rows]), file_name="i.csv",
        partial=True,
    )  # fmt: skip
    assert batched == one_by_one
    created, _, _, rejected, messages = batched["report"]
    assert (created, rejected) == (1, 1)
    assert "Part État" in messages[0] and "n'est pas votre organisation" in messages[0]


def test_a_rolled_back_group_does_not_leave_its_new_owner_in_the_cache(
    monkeypatch, hdf, admin_actor
):
    """One by one, in partial mode: the first group creates the owner then fails; the second
    names the same owner and must create it again rather than point at the rolled-back one."""
    monkeypatch.setattr(_OperationPlanner, "batch", False)
    header = ["N° d'opération", "Intitulé de l'opération", "N° SIRET", "Maître d'ouvrage",
              "Code INSEE", "Objectif", "Statut", "Part État"]  # fmt: skip
    rows = [
        ["U-1", "Échoue au statut", SIRET_A, "Nouvelle commune", "59350", "2.2", "programmée", "9"],
        ["U-2", "Réussit", SIRET_A, "Nouvelle commune", "59350", "2.2", "", "9"],
    ]
    report = import_operations(
        actor=admin_actor, contract=hdf, source=csv_file([header, *rows]), file_name="u.csv",
        dry_run=False, partial=True,
    )  # fmt: skip
    assert (report.created, report.rejected) == (1, 1), [str(r) for r in report.rejections]
    assert Operation.objects.get(contract=hdf, code="U-2").owner.siret == SIRET_A


def test_importing_operations_issues_no_query_per_operation(hdf, twin, admin_actor):  # noqa: F811
    call_command("demo", "--operations", "150", "--no-users", "--no-finance", stdout=_io.StringIO())
    data = writers.render(exports.build("lines", hdf, user=admin_actor.user), "csv")
    with CaptureQueriesContext(connection) as queries:
        report = import_operations(
            actor=admin_actor, contract=twin, source=data, file_name="d.csv", dry_run=False
        )
    assert report.ok and report.created > 150
    assert Operation.objects.filter(contract=twin).count() == 150
    # A fixed number of queries per chunk of 500 operations, plus a few per programming
    # committee created (found, created, audited, in its savepoint) — none per operation.
    committees = Committee.objects.filter(contract=twin).count()
    assert len(queries) <= 60 + 6 * committees, len(queries)


def test_progress_is_reported_as_each_chunk_completes(monkeypatch, hdf, twin, admin_actor):  # noqa: F811
    monkeypatch.setattr(_OperationPlanner, "chunk_size", 10)
    call_command("demo", "--operations", "60", "--no-users", "--no-finance", stdout=_io.StringIO())
    data = writers.render(exports.build("lines", hdf, user=admin_actor.user), "csv")
    seen: list[tuple[int, int]] = []
    report = import_operations(
        actor=admin_actor,
        contract=twin,
        source=data,
        file_name="d.csv",
        dry_run=True,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert report.ok and len(seen) >= 6, seen  # one per chunk of 10 operations at least
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (report.rows_total, report.rows_total)


def test_progress_moves_when_chunks_do_not_end_on_a_round_number():
    from types import SimpleNamespace

    from cper.io.imports import _Planner

    seen: list[int] = []
    planner = SimpleNamespace()
    for done in (1861, 3722, 5583, 7444, 10_000):  # 10 000 rows: the step is 50
        _Planner.tick(planner, lambda d, t: seen.append(d), done, 10_000)  # type: ignore[arg-type]
    assert seen == [1861, 3722, 5583, 7444, 10_000]


def test_summaries_of_an_import_larger_than_a_sync_slice_are_complete(
    monkeypatch,
    hdf,
    twin,  # noqa: F811
    admin_actor,
):
    """The summaries are synchronised by slices (SQLite caps a query's variables): a register
    of several slices gets every line's state, and a recomputation finds no difference."""
    from cper.finance import summaries

    monkeypatch.setattr(summaries, "SYNC_CHUNK", 25)
    call_command("demo", "--operations", "40", "--no-users", "--no-finance", stdout=_io.StringIO())
    data = writers.render(exports.build("lines", hdf, user=admin_actor.user), "csv")
    report = import_operations(
        actor=admin_actor, contract=twin, source=data, file_name="d.csv", dry_run=False
    )
    lines = FinancingLine.objects.filter(operation__contract=twin).count()
    assert report.ok and lines > 3 * 25
    assert LineState.objects.filter(contract=twin).count() == lines
    assert summaries.verify(twin) == []
