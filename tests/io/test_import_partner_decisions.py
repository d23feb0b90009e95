"""Partners' decisions in the lines files (issue 12): the lines export writes the decision in
force of each line (« Décision : nature », « … : date »…), the lines import records the
decisions a file carries through the partners' decisions service, once, and a contract under
the CPER setting (`partner_decision`) is programmed by them at their dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.contracts.models import Contract
from cper.finance.models import LineState
from cper.io import exports, writers
from cper.io.imports import import_operations
from cper.operations import services as ops
from cper.operations.models import FinancingLine, Operation, PartnerDecision
from tests.io.conftest import SIRET_A, csv_file
from tests.io.test_round_trip import twin  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

HEADER = [
    "N° d'opération",
    "Intitulé de l'opération",
    "Maître d'ouvrage",
    "N° SIRET",
    "Code INSEE",
    "Objectif",
    "Statut",
    "Date du comité de programmation",
    "Financeur",
    "Montant",
    "Décision : nature",
    "Décision : instance",
    "Décision : date",
    "Décision : référence",
    "Décision : montant",
]
OPERATION = ["DEC-1", "Gare de Lille", "Ville de Lille", SIRET_A, "59350", "2.2", "programmée"]


def rows(*, state_date: str = "10/04/2023", region_kind: str = "délibération CP") -> list:
    return [
        HEADER,
        [*OPERATION, "15/03/2023", "État", "400000", "arrêté attributif", "Préfet de région",
         state_date, "AA-2023-12", "400 000,00"],
        [*OPERATION, "15/03/2023", "Région", "100000", region_kind,
         "Commission permanente", "20/05/2023", "CP-2023-05-20-14", ""],
        [*OPERATION, "15/03/2023", "FEDER", "50000", "", "", "", "", ""],
    ]  # fmt: skip


def under_partner_decision(contract: Contract) -> Contract:
    Contract.objects.filter(pk=contract.pk).update(programming_mode="partner_decision")
    contract.refresh_from_db()
    return contract


def load(contract: Contract, actor, data: bytes):  # type: ignore[no-untyped-def]
    return import_operations(
        actor=actor, contract=contract, source=data, file_name="lignes.csv", dry_run=False
    )


def programmed(contract: Contract) -> dict[str, tuple[Decimal, dt.date | None]]:
    """Per financer of DEC-1: the programmed amount in euros (the summaries keep cents) and
    the date it was programmed on."""
    states = LineState.objects.filter(
        line__operation__contract=contract, line__operation__code="DEC-1"
    ).select_related("line", "line__partner")
    return {
        (s.line.partner.code if s.line.partner else s.line.financer_label): (
            Decimal(s.programmed) / 100,
            s.programmed_on,
        )
        for s in states
    }


def test_imported_decisions_programme_the_lines_at_their_dates(hdf, admin_actor):  # type: ignore[no-untyped-def]
    contract = under_partner_decision(hdf)
    report = load(contract, admin_actor, csv_file(rows()))
    assert report.ok, [str(r) for r in report.rejections]
    decisions = PartnerDecision.objects.filter(financing_line__operation__code="DEC-1")
    assert sorted(
        (d.partner.code, d.kind, d.body, d.date, d.reference, d.amount) for d in decisions
    ) == [
        ("etat", "arrete_attributif", "Préfet de région", dt.date(2023, 4, 10), "AA-2023-12",
         Decimal("400000.00")),
        ("region", "deliberation_cp", "Commission permanente", dt.date(2023, 5, 20),
         "CP-2023-05-20-14", Decimal("100000.00")),  # no amount: the line's
    ]  # fmt: skip
    # Each partner's decision programmes its line at its date; the EU fund's line, without a
    # partner's decision, follows the committee's avis.
    states = programmed(contract)
    assert states["etat"] == (Decimal("400000.00"), dt.date(2023, 4, 10))
    assert states["region"] == (Decimal("100000.00"), dt.date(2023, 5, 20))
    assert states["FEDER"] == (Decimal("50000.00"), dt.date(2023, 3, 15))


def test_importing_the_same_file_again_adds_no_decision(hdf, admin_actor):  # type: ignore[no-untyped-def]
    contract = under_partner_decision(hdf)
    data = csv_file(rows())
    assert load(contract, admin_actor, data).ok
    again = load(contract, admin_actor, data)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 0)
    assert PartnerDecision.objects.filter(financing_line__operation__code="DEC-1").count() == 2


def test_a_new_decision_date_in_the_file_is_recorded_as_an_amending_decision(hdf, admin_actor):  # type: ignore[no-untyped-def]
    contract = under_partner_decision(hdf)
    assert load(contract, admin_actor, csv_file(rows())).ok
    again = load(contract, admin_actor, csv_file(rows(state_date="02/06/2023")))
    assert (again.created, again.updated, again.unchanged) == (0, 1, 2)
    state = PartnerDecision.objects.filter(
        partner__code="etat", financing_line__operation__code="DEC-1"
    )
    assert sorted(state.values_list("date", flat=True)) == [
        dt.date(2023, 4, 10),
        dt.date(2023, 6, 2),
    ]
    assert programmed(contract)["etat"] == (Decimal("400000.00"), dt.date(2023, 6, 2))


@pytest.mark.parametrize(
    ("state_date", "region_kind", "column", "message"),
    [
        ("31/02/2023", "délibération CP", "Décision : date", "31/02/2023"),
        ("10/04/2099", "délibération CP", "Décision : date", "dans le futur"),
        ("10/04/2023", "arrêté préfectoral", "Décision : nature", "ligne 3 : nature de l'acte"),
    ],
)
def test_a_bad_decision_rejects_the_operation_naming_row_and_column(  # type: ignore[no-untyped-def]
    hdf, admin_actor, state_date, region_kind, column, message
):
    contract = under_partner_decision(hdf)
    report = load(
        contract, admin_actor, csv_file(rows(state_date=state_date, region_kind=region_kind))
    )
    assert not report.ok
    rejection = next(r for r in report.rejections if r.column == column)
    assert rejection.row == 2 and message in rejection.message, str(rejection)
    # Nothing is half-written: neither the operation nor any decision.
    assert not Operation.objects.filter(contract=contract, code="DEC-1").exists()
    assert not PartnerDecision.objects.filter(financing_line__operation__code="DEC-1").exists()


def test_a_bad_decision_amount_on_an_existing_operation_leaves_its_lines_as_they_were(
    hdf, admin_actor
):  # type: ignore[no-untyped-def]
    contract = under_partner_decision(hdf)
    without_decisions = [HEADER, *(r[:10] + [""] * 5 for r in rows()[1:])]
    assert load(contract, admin_actor, csv_file(without_decisions)).ok
    body = rows()
    body[1][9] = "450000"  # the line's amount changes…
    body[1][14] = "quatre cent mille"  # …with an unreadable decided amount
    report = load(contract, admin_actor, csv_file(body))
    assert [(r.row, r.column) for r in report.rejections if r.column] == [(2, "Décision : montant")]
    line = FinancingLine.objects.get(operation__code="DEC-1", partner__code="etat")
    assert line.amount == Decimal("400000.00")
    assert not PartnerDecision.objects.filter(financing_line__operation__code="DEC-1").exists()


def test_the_lines_export_carries_the_decision_in_force_and_reads_back(hdf, twin, admin_actor):  # type: ignore[no-untyped-def]  # noqa: F811
    contract = under_partner_decision(hdf)
    assert load(contract, admin_actor, csv_file(rows())).ok
    line = FinancingLine.objects.get(operation__code="DEC-1", partner__code="etat")
    ops.partner_decision_record(
        actor=admin_actor, line=line, kind="arrete_attributif", date=dt.date(2023, 9, 1),
        amount=Decimal("350000"), reference="AA-2023-12-M1", body="Préfet de région",
    )  # fmt: skip
    sheets = exports.build("lines", contract, user=admin_actor.user)
    header = [c.label for c in sheets[0].columns]
    by_financer = {
        row[header.index("Financeur")]: row[header.index("Décision : nature") :]
        for row in sheets[0].rows
    }
    # The amending decision is in force; a line without decision has empty cells.
    assert by_financer["État"] == [
        "arrêté attributif", "Préfet de région", dt.date(2023, 9, 1), "AA-2023-12-M1",
        Decimal("350000.00"), "accordée",
    ]  # fmt: skip
    assert by_financer["FEDER"] == ["", "", None, "", None, ""]
    for fmt in ("csv", "xlsx"):
        report = import_operations(
            actor=admin_actor, contract=twin, source=writers.render(sheets, fmt),
            file_name=f"lignes.{fmt}", dry_run=False,
        )  # fmt: skip
        assert report.ok, [str(r) for r in report.rejections]
    # The twin got the decision in force, once (the second format changed nothing).
    assert sorted(
        PartnerDecision.objects.filter(financing_line__operation__contract=twin).values_list(
            "partner__code", "date", "reference", "amount"
        )
    ) == [
        ("etat", dt.date(2023, 9, 1), "AA-2023-12-M1", Decimal("350000.00")),
        ("region", dt.date(2023, 5, 20), "CP-2023-05-20-14", Decimal("100000.00")),
    ]
    assert programmed(twin)["etat"] == (Decimal("350000.00"), dt.date(2023, 9, 1))


def many(count: int, *, bad: int | None = None, prefix: str = "DEC") -> list:
    """`count` operations like DEC-1 (DEC-1…), each with its two partners' decisions; the
    `bad`-th one's State decision dated in the future."""
    out = [HEADER]
    for n in range(1, count + 1):
        operation = [f"{prefix}-{n}", *OPERATION[1:]]
        day = "10/04/2099" if n == bad else "10/04/2023"
        out += [
            [*operation, "15/03/2023", "État", "400000", "arrêté attributif",
             "Préfet de région", day, f"AA-2023-{n}", "400 000,00"],
            [*operation, "15/03/2023", "Région", "100000", "délibération CP",
             "Commission permanente", "20/05/2023", f"CP-2023-{n}", ""],
        ]  # fmt: skip
    return out


def test_a_bad_decision_among_many_rejects_only_its_operation(hdf, admin_actor):  # type: ignore[no-untyped-def]
    contract = under_partner_decision(hdf)
    report = import_operations(
        actor=admin_actor,
        contract=contract,
        source=csv_file(many(6, bad=4)),
        file_name="lignes.csv",
        dry_run=False,
        partial=True,  # the valid rows go in, the rejected ones are reported
    )
    assert [(r.row, r.column) for r in report.rejections if r.column] == [(8, "Décision : date")]
    assert "dans le futur" in next(r for r in report.rejections if r.column).message
    assert report.created == 10  # the five other operations' ten rows
    codes = set(Operation.objects.filter(contract=contract).values_list("code", flat=True))
    assert codes == {"DEC-1", "DEC-2", "DEC-3", "DEC-5", "DEC-6"}
    assert (
        PartnerDecision.objects.filter(financing_line__operation__contract=contract).count() == 10
    )
    assert not PartnerDecision.objects.filter(financing_line__operation__code="DEC-4").exists()


def test_decisions_of_new_operations_are_recorded_in_batches_not_one_by_one(  # type: ignore[no-untyped-def]
    hdf, admin_actor
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    contract = under_partner_decision(hdf)
    with CaptureQueriesContext(connection) as ten:
        assert load(contract, admin_actor, csv_file(many(10))).ok
    with CaptureQueriesContext(connection) as forty:
        assert load(contract, admin_actor, csv_file(many(40, prefix="LOT"))).ok
    decisions = PartnerDecision.objects.filter(financing_line__operation__code__startswith="LOT")
    assert decisions.count() == 80
    # Thirty operations more cost a handful of queries, not thirty savepoints and inserts.
    assert len(forty.captured_queries) - len(ten.captured_queries) < 15, (
        len(ten.captured_queries),
        len(forty.captured_queries),
    )
