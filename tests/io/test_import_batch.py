"""The operations import creates its new operations through the batch of the register
(`cper.operations.bulk`), chunk by chunk: a refused row keeps the services' message and leaves
nothing behind, the queries follow the chunks rather than the operations, progress and summaries
follow.
"""

from __future__ import annotations

import datetime as dt
import io as _io
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from cper.accounts.models import Role
from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.models import Objective, Partner
from cper.finance.models import LineState
from cper.io import exports, writers
from cper.io.imports import import_operations
from cper.io.imports.operations import OperationPlanner
from cper.io.imports.planner import Planner
from cper.operations import bulk, selectors
from cper.operations.models import (
    Committee,
    Decision,
    FinancingLine,
    Operation,
    OperationTransition,
    ProjectOwner,
)
from tests.io.conftest import SIRET_A, csv_file
from tests.io.test_round_trip import twin  # noqa: F401  (fixture)
from tests.operations.factories import make_user

pytestmark = pytest.mark.django_db


def _import(contract, **kwargs):  # type: ignore[no-untyped-def]
    return import_operations(contract=contract, dry_run=False, partial=True, **kwargs)


def test_rejected_rows_keep_the_services_messages_and_leave_nothing_behind(hdf, admin_actor):
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
    report = _import(
        hdf, actor=admin_actor, source=csv_file([header, *rows]), file_name="mixte.csv"
    )
    assert (report.created, report.rejected) == (2, 6)
    assert [(r.row, r.column, r.message) for r in report.rejections] == [
        (3, "N° SIRET", "le SIRET « 12345678901234 » est invalide : la clé de contrôle ne "
         "correspond pas"),
        (4, "Code INSEE", "commune(s) inconnue(s) : 99999"),
        (5, "Statut", "une opération « programmée » a été programmée par un comité : indiquez la "
         "date du comité de programmation (colonne « Date du comité de programmation »), ou, "
         "pour reprendre un registre existant, la date des décisions reprises (page d'import : "
         "« date des décisions reprises » ; ligne de commande : --programmed-on)"),
        (6, "Objectif", "objectif inconnu « 9.9 » (objectifs du contrat : 1.1, 1.2, 1.3, 2.1, "
         "2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 3.1, 3.2, 3.3, 4.1, 4.2, 4.3, 5.1, 5.2, 5.3, 6.1, 6.2)"),
        (7, "Part État", "« beaucoup » n'est pas un montant"),
        (9, "", "une décision favorable approuve au moins un montant d'un partenaire"),
    ]  # fmt: skip
    assert sorted(Operation.objects.filter(contract=hdf).values_list("code", flat=True)) == [
        "B-1",
        "B-7",
    ]
    # The committee of B-8's date is not left behind by its rejected operation.
    committees = Committee.objects.filter(contract=hdf).values_list("date", flat=True)
    assert list(committees) == [dt.date(2023, 3, 15)]
    b1 = Operation.objects.get(contract=hdf, code="B-1")
    assert b1.status == "programmed"
    assert [
        t.to_status for t in OperationTransition.objects.filter(operation=b1).order_by("id")
    ] == ["submitted", "under_review", "programmed"]
    assert Decision.objects.get(operation=b1).outcome == "approved"
    actions = Counter(
        AuditEntry.objects.filter(operation_id=b1.pk).values_list("action", flat=True)
    )
    assert actions == {
        AuditAction.OPERATION_CREATED: 1,
        AuditAction.LINE_ADDED: 2,
        AuditAction.AGENDA_ADDED: 1,
        AuditAction.DECISION_RECORDED: 1,
        AuditAction.OPERATION_STATUS_CHANGED: 3,
    }
    assert ProjectOwner.objects.filter(siret=SIRET_A).count() == 1


def test_instructor_import_takes_its_lines_and_refuses_another_partners(hdf):
    user = make_user(Role.INSTRUCTOR, username="instr-batch")
    actor = Actor(user=user, via="import")
    header = ["N° d'opération", "Intitulé de l'opération", "N° SIRET", "Maître d'ouvrage",
              "Code INSEE", "Objectif", "Part État", "FEDER"]  # fmt: skip
    rows = [
        ["I-1", "Seulement du FEDER", SIRET_A, "Ville de Lille", "59350", "2.2", "", "300"],
        ["I-2", "Une part de l'État", SIRET_A, "Ville de Lille", "59350", "2.2", "100", ""],
    ]
    report = _import(hdf, actor=actor, source=csv_file([header, *rows]), file_name="i.csv")
    assert (report.created, report.rejected) == (1, 1)
    assert [(r.row, r.column, r.message) for r in report.rejections] == [
        (3, "Part État", "Vous ne pouvez pas modifier cette ligne de financement : elle relève "
         "de « État », qui n'est pas votre organisation."),
    ]  # fmt: skip


def test_a_refused_operation_does_not_take_its_new_owner_with_it(hdf, admin_actor):
    """In partial mode: the first operation naming a new owner is refused at its status; the
    second names the same owner, which is created with it."""
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
    monkeypatch.setattr(OperationPlanner, "chunk_size", 10)
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

    seen: list[int] = []
    planner = SimpleNamespace()
    for done in (1861, 3722, 5583, 7444, 10_000):  # 10 000 rows: the step is 50
        Planner.tick(planner, lambda d, t: seen.append(d), done, 10_000)  # type: ignore[arg-type]
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


def test_a_contract_that_blocks_over_programming_refuses_the_row_that_exceeds(hdf, admin_actor):
    """The rows of a file count one after the other against the maquette: the one that takes
    the pair over it is refused with the services' message, the rows around it are written."""
    hdf.over_programming = "block"
    hdf.save(update_fields=["over_programming"])
    etat = Partner.objects.get(contract=hdf, code="etat")
    objective = Objective.objects.get(contract=hdf, code="2.2")
    [figure] = selectors.programmed_figures(contract=hdf, pairs={(etat.pk, objective.pk)})
    room = figure.maquette - figure.programmed
    header = ["N° d'opération", "Intitulé de l'opération", "N° SIRET", "Maître d'ouvrage",
              "Code INSEE", "Objectif", "Statut", "Date du comité de programmation",
              "Part État"]  # fmt: skip
    rows = [
        [f"P-{i}", f"Programmée {i}", SIRET_A, "Ville de Lille", "59350", "2.2", "programmée",
         "15/03/2023", str(amount)]
        for i, amount in enumerate((room - 1, 2, 1), start=1)
    ]  # fmt: skip
    report = _import(hdf, actor=admin_actor, source=csv_file([header, *rows]), file_name="b.csv")
    assert (report.created, report.rejected) == (2, 1)
    [rejection] = report.rejections
    assert (rejection.row, rejection.column) == (3, "")
    assert rejection.message.startswith(f"sur-programmation {etat} × objectif 2.2 : ")
    assert sorted(Operation.objects.filter(contract=hdf).values_list("code", flat=True)) == [
        "P-1",
        "P-3",
    ]


def test_a_new_operation_whose_owner_changes_updates_it_first(hdf, admin_actor):
    header = ["N° d'opération", "Intitulé de l'opération", "N° SIRET", "Maître d'ouvrage",
              "Code INSEE", "Objectif", "Part État"]  # fmt: skip
    rows = [
        ["N-1", "Première", SIRET_A, "Ville de Lille", "59350", "2.2", "10"],
        ["N-2", "Seconde", SIRET_A, "Lille", "59350", "2.2", "20"],
    ]
    report = _import(hdf, actor=admin_actor, source=csv_file([header, *rows]), file_name="n.csv")
    assert (report.created, report.rejected) == (2, 0), [str(r) for r in report.rejections]
    owner = ProjectOwner.objects.get(siret=SIRET_A)
    assert owner.name == "Lille"
    assert set(Operation.objects.filter(contract=hdf).values_list("owner", flat=True)) == {owner.pk}
    assert AuditEntry.objects.filter(action=AuditAction.OWNER_UPDATED).count() == 1


def test_a_database_error_on_a_chunk_creates_its_operations_one_at_a_time(
    monkeypatch, hdf, admin_actor
):
    real = bulk.operations_create_many
    sizes: list[int] = []

    def flaky(**kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(kwargs["drafts"]))
        if len(kwargs["drafts"]) > 1:
            raise DatabaseError("simulée")
        return real(**kwargs)

    monkeypatch.setattr(bulk, "operations_create_many", flaky)
    header = ["N° d'opération", "Intitulé de l'opération", "N° SIRET", "Maître d'ouvrage",
              "Code INSEE", "Objectif", "Statut", "Date du comité de programmation",
              "Part État"]  # fmt: skip
    rows = [
        [f"D-{i}", f"Opération {i}", SIRET_A, "Ville de Lille", "59350", "2.2", "programmée",
         "15/03/2023", "10"]
        for i in (1, 2, 3)
    ]  # fmt: skip
    report = _import(hdf, actor=admin_actor, source=csv_file([header, *rows]), file_name="d.csv")
    assert (report.created, report.rejected) == (3, 0), [str(r) for r in report.rejections]
    assert sizes == [3, 1, 1, 1]
    assert Committee.objects.filter(contract=hdf).count() == 1
    assert ProjectOwner.objects.filter(siret=SIRET_A).count() == 1
