"""Each co-financer's own decision on its financing line (issue 12): under the CPER setting
(`partner_decision`) a line is programmed only by its partner's decision in force, for its
amount, at its date; under the committee setting nothing changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.contracts.models import Contract, ProgrammingMode
from cper.finance import summaries
from cper.finance.aggregation import execution
from cper.finance.models import LineState
from cper.finance.services import MovementRefused, movement_record
from cper.operations import services
from cper.operations.models import CommitteeKind, OperationStatus, PartnerDecision
from cper.operations.services import PartnerDecisionDraft
from tests.operations.factories import make_line, make_operation

E = Decimal
COMMITTEE_DAY = dt.date(2024, 3, 12)
DELIBERATION_DAY = dt.date(2024, 4, 5)

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _mode(contract: Contract, mode: str) -> Contract:
    Contract.objects.filter(pk=contract.pk).update(programming_mode=mode)
    contract.refresh_from_db()
    summaries.rebuild(contract)
    return contract


def _programmed(contract: Contract, as_of: dt.date) -> dict[str, Decimal]:
    result = execution(contract=contract, as_of=as_of, group_by=("partner",))
    return {row.key["partner"]: row.programmed for row in result.rows if row.programmed}


@pytest.fixture
def plan(hdf, actors):  # type: ignore[no-untyped-def]
    """An operation under review with the Region's, the State's and the Nord's lines, given an
    avis favorable by the programming committee of 12 March 2024."""
    op = make_operation(hdf, status=OperationStatus.UNDER_REVIEW)
    lines = {
        "region": make_line(op, "region", "300000.00"),
        "etat": make_line(op, "etat", "200000.00"),
        "dep-59": make_line(op, "dep-59", "100000.00"),
    }
    committee = services.committee_create(
        actor=actors["instructor"], contract=hdf, kind=CommitteeKind.PROGRAMMING, date=COMMITTEE_DAY
    )
    return op, lines, committee


def _avis(plan, actors) -> None:  # type: ignore[no-untyped-def]
    op, _, committee = plan
    services.decision_record(
        actor=actors["instructor"], committee=committee, operation=op, outcome="approved"
    )


def test_under_the_cper_setting_a_line_is_programmed_only_by_its_partners_decision(
    hdf, plan, actors
):
    _mode(hdf, ProgrammingMode.PARTNER_DECISION)
    before = _programmed(hdf, dt.date(2024, 12, 31))
    op, lines, _ = plan
    _avis(plan, actors)
    op.refresh_from_db()
    assert op.status == OperationStatus.PROGRAMMED  # the committee's avis favorable
    # The avis alone programmes nothing.
    assert _programmed(hdf, dt.date(2024, 12, 31)) == before
    assert LineState.objects.get(pk=lines["region"].pk).programmed == 0

    decision = services.partner_decision_record(
        actor=actors["admin"],
        line=lines["region"],
        kind="deliberation_cp",
        body="commission permanente du conseil régional",
        date=DELIBERATION_DAY,
        reference="CP 2024-04-05 n° 20240412",
        amount="300000.00",
    )
    assert decision.partner_id == lines["region"].partner_id
    after = _programmed(hdf, dt.date(2024, 12, 31))
    assert after.get("region", E(0)) - before.get("region", E(0)) == E("300000.00")
    # The other partners' lines still wait for their own decision.
    assert after.get("etat", E(0)) == before.get("etat", E(0))
    assert after.get("dep-59", E(0)) == before.get("dep-59", E(0))
    # Dated by the deliberation, not by the committee.
    day_before = _programmed(hdf, DELIBERATION_DAY - dt.timedelta(days=1))
    assert day_before.get("region", E(0)) == before.get("region", E(0))
    state = LineState.objects.get(pk=lines["region"].pk)
    assert (state.programmed, state.programmed_on) == (30_000_000, DELIBERATION_DAY)
    assert summaries.verify(hdf) == []


def test_an_amending_decision_replaces_the_first_and_a_refusal_programmes_nothing(
    hdf, plan, actors
):
    _mode(hdf, ProgrammingMode.PARTNER_DECISION)
    _, lines, _ = plan
    _avis(plan, actors)
    line = lines["etat"]
    services.partner_decision_record(
        actor=actors["admin"],
        line=line,
        kind="arrete_attributif",
        date=dt.date(2024, 5, 2),
        reference="arrêté préfectoral n° 2024-117",
        amount="200000.00",
    )
    services.partner_decision_record(
        actor=actors["admin"],
        line=line,
        kind="arrete_attributif",
        date=dt.date(2024, 9, 20),
        reference="arrêté modificatif n° 2024-301",
        amount="150000.00",
    )
    state = LineState.objects.get(pk=line.pk)
    assert (state.programmed, state.programmed_on) == (15_000_000, dt.date(2024, 9, 20))
    services.partner_decision_record(
        actor=actors["admin"],
        line=line,
        kind="arrete_attributif",
        date=dt.date(2024, 11, 4),
        amount="0",
        outcome="withdrawn",
    )
    state = LineState.objects.get(pk=line.pk)
    assert (state.programmed, state.programmed_on) == (0, None)
    assert PartnerDecision.objects.filter(financing_line=line).count() == 3
    assert summaries.verify(hdf) == []


def test_under_the_committee_setting_the_avis_programmes_and_decisions_change_nothing(
    hdf, plan, actors
):
    assert hdf.programming_mode == ProgrammingMode.COMMITTEE
    _, lines, _ = plan
    _avis(plan, actors)
    state = LineState.objects.get(pk=lines["region"].pk)
    assert (state.programmed, state.programmed_on) == (30_000_000, COMMITTEE_DAY)
    services.partner_decision_record(
        actor=actors["admin"],
        line=lines["region"],
        kind="deliberation_cp",
        date=DELIBERATION_DAY,
        amount="120000.00",
    )
    state = LineState.objects.get(pk=lines["region"].pk)
    assert (state.programmed, state.programmed_on) == (30_000_000, COMMITTEE_DAY)
    assert summaries.verify(hdf) == []


def test_an_existing_contract_migrates_to_committee_with_its_figures_unchanged(hdf, plan, actors):
    """The migration adds the column with the database default `committee`, which every contract
    already loaded takes (a row written without naming the column too); its figures rebuilt
    under that mode are those of before, to the cent."""
    _avis(plan, actors)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT programming_mode FROM {Contract._meta.db_table} WHERE id = %s", [hdf.pk]
        )
        assert cursor.fetchone()[0] == "committee"
    assert Contract._meta.get_field("programming_mode").db_default == ProgrammingMode.COMMITTEE
    before = execution(contract=hdf, group_by=("partner", "year")).rows
    _mode(hdf, ProgrammingMode.COMMITTEE)
    after = execution(contract=hdf, group_by=("partner", "year")).rows
    assert [(r.key, r.programmed) for r in after] == [(r.key, r.programmed) for r in before]


def test_the_lines_partner_records_its_decision_and_no_other_partner(hdf, plan, actors):
    _, lines, _ = plan
    nord_line = lines["dep-59"]
    with pytest.raises(PermissionDenied, match="relève de"):
        services.partner_decision_record(
            actor=actors["nord"],
            line=lines["region"],
            kind="autre",
            date=DELIBERATION_DAY,
            amount="1",
        )
    for who in ("observer", "public"):
        with pytest.raises(PermissionDenied):
            services.partner_decision_record(
                actor=actors[who], line=nord_line, kind="autre", date=DELIBERATION_DAY, amount="1"
            )
    decision = services.partner_decision_record(
        actor=actors["nord"],
        line=nord_line,
        kind="deliberation_conseil",
        body="commission permanente du conseil départemental du Nord",
        date=DELIBERATION_DAY,
        amount="100000.00",
    )
    services.partner_decision_record(
        actor=actors["instructor"], line=nord_line, kind="autre", date=DELIBERATION_DAY, amount="1"
    )
    entry = AuditEntry.objects.get(
        action=AuditAction.PARTNER_DECISION_RECORDED, subject_id=str(decision.pk)
    )
    assert entry.changes["montant"] == "100000.00"
    assert entry.user == actors["nord"].user


def test_a_decision_is_checked_field_by_field(hdf, plan, actors):
    _, lines, _ = plan
    line = lines["region"]
    with pytest.raises(ValidationError) as err:
        services.partner_decision_record(
            actor=actors["admin"],
            line=line,
            kind="oracle",
            date=dt.date.today() + dt.timedelta(days=3),
            amount="-5",
        )
    assert set(err.value.message_dict) == {"kind", "date", "amount"}
    with pytest.raises(ValidationError, match="refus ou un retrait porte un montant de 0"):
        services.partner_decision_record(
            actor=actors["admin"],
            line=line,
            kind="autre",
            date=DELIBERATION_DAY,
            amount="10",
            outcome="refused",
        )
    assert not PartnerDecision.objects.exists()


def test_the_signed_act_is_a_pdf_odt_or_docx_checked_on_its_content(
    hdf, plan, actors, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    _, lines, _ = plan
    line = lines["region"]
    with pytest.raises(ValidationError, match=r"format « \.exe » refusé"):
        services.partner_decision_record(
            actor=actors["admin"],
            line=line,
            kind="deliberation_cp",
            date=DELIBERATION_DAY,
            amount="1",
            document=SimpleUploadedFile("acte.exe", b"MZ\x90\x00"),
        )
    with pytest.raises(ValidationError, match="n'est pas un fichier PDF"):
        services.partner_decision_record(
            actor=actors["admin"],
            line=line,
            kind="deliberation_cp",
            date=DELIBERATION_DAY,
            amount="1",
            document=SimpleUploadedFile("acte.pdf", b"<html>"),
        )
    decision = services.partner_decision_record(
        actor=actors["admin"],
        line=line,
        kind="deliberation_cp",
        date=DELIBERATION_DAY,
        amount="1",
        document=SimpleUploadedFile("délibération CP.pdf", PDF),
    )
    assert decision.document.name.startswith(f"decisions/{dt.date.today():%Y}/")
    assert (tmp_path / decision.document.name).read_bytes() == PDF


def test_the_batch_writes_the_valid_drafts_and_reports_the_others(hdf, plan, actors):
    _mode(hdf, ProgrammingMode.PARTNER_DECISION)
    _, lines, _ = plan
    _avis(plan, actors)
    results = services.partner_decisions_record_many(
        actor=actors["state"],
        drafts=[
            PartnerDecisionDraft(
                financing_line_id=lines["etat"].pk,
                kind="arrete_attributif",
                date=dt.date(2024, 5, 2),
                amount="200 000,00",
            ),
            PartnerDecisionDraft(
                financing_line_id=lines["region"].pk,
                kind="deliberation_cp",
                date=DELIBERATION_DAY,
                amount="300000",
            ),
            PartnerDecisionDraft(
                financing_line_id=lines["etat"].pk, kind="convention", date=None, amount="1"
            ),
        ],
    )
    assert [r.written for r in results] == [True, False, False]
    assert "relève" in results[1].refused
    assert [f.field for f in results[2].findings] == ["date"]
    assert LineState.objects.get(pk=lines["etat"].pk).programmed == 20_000_000
    assert LineState.objects.get(pk=lines["region"].pk).programmed == 0
    assert summaries.verify(hdf) == []


def test_under_the_cper_setting_a_commitment_waits_for_the_partners_decision(hdf, plan, actors):
    """The ledger reads the same programmed amount as the summaries: a State line (AE/CP, no
    affectation) awaiting its arrêté attributif takes no commitment; the arrêté's amount bounds
    it afterwards."""
    _mode(hdf, ProgrammingMode.PARTNER_DECISION)
    _, lines, _ = plan
    _avis(plan, actors)
    line = lines["etat"]
    commitment = {
        "actor": actors["admin"],
        "financing_line": line,
        "kind": "commitment",
        "date": dt.date(2024, 6, 3),
        "reference": "2103456789",
    }
    with pytest.raises(MovementRefused):
        movement_record(**commitment, amount="50000.00")
    services.partner_decision_record(
        actor=actors["admin"],
        line=line,
        kind="arrete_attributif",
        date=dt.date(2024, 5, 2),
        amount="120000.00",
    )
    with pytest.raises(MovementRefused):
        movement_record(**commitment, amount="150000.00")  # the line says 200 000 €
    movement_record(**commitment, amount="120000.00")
    assert LineState.objects.get(pk=line.pk).committed == 12_000_000
