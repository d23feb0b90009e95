"""The State's budget chain (issue 12): execution by LOLF programme, AE mises en place, EJ
numbers. One hand-computed example on the Hauts-de-France contract with a small maquette of its
own (two programmes, lines, commitments, payments, AE mises en place, a withdrawal, a payment
cancellation):

    maquette (État): P112 2022 1 000 000 ; P150 2023 500 000 (Région 300 000: not counted)
    line A  État P112 BOP 0112-DR59  commit 300 000 (2022) ; pay 100 000 (2022), 50 000 (2023),
                                      cancel 20 000 of the 2023 payment
    line B  État P150 BOP 0150-DR59  commit 150 000 (2023), decommit 30 000 ; pay 60 000
    line C  État, no programme        commit 10 000
    line D  Région (AP/CP)            commit 80 000 ; pay 10 000            (not the State's)
    AE mises en place: P112/0112-DR59 2022 350 000 ; P112 2023 100 000 then withdrawal 40 000 ;
                       P150/0150-DR59 2023 200 000

    programme  contractualisé  AE mises en place  AE engagées  CP payés  eng./MEP  CP/AE
    P112            1 000 000            410 000      300 000   130 000   73,17 %  43,33 %
    P150              500 000            200 000      120 000    60 000   60,00 %  50,00 %
    sans prog.              0                  0       10 000         0        —    0,00 %
    total           1 500 000            610 000      430 000   190 000
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from cper.accounts.models import Role
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.models import BudgetProgramme, Objective, Partner
from cper.finance import aggregation, rules
from cper.finance.models import AeImmutable, AeMiseEnPlace, Movement
from cper.finance.services import (
    AeDraft,
    AeRefused,
    MovementRefused,
    ae_mise_en_place_record,
    ae_mise_en_place_record_many,
)
from cper.finance.vocabulary import measure_labels
from cper.maquette.models import Allocation
from cper.operations.rules import state_line_findings
from tests.accounts.factories import OrganisationFactory, UserFactory
from tests.finance import factories as F

D = dt.date
AS_OF = D(2023, 12, 31)
pytestmark = pytest.mark.django_db


def _allocation(contract, partner: str, objective: str, year: int, amount: str, programme):  # type: ignore[no-untyped-def]
    Allocation.objects.create(
        contract=contract,
        partner=Partner.objects.get(contract=contract, code=partner),
        objective=Objective.objects.get(contract=contract, code=objective),
        year=year,
        amount=Decimal(amount),
        budget_nature="ae_cp" if partner == "etat" else "ap_cp",
        programme=BudgetProgramme.objects.get(code=programme) if programme else None,
    )


def _mep(contract, programme: str, year: int, amount: str, bop=None, **kw):  # type: ignore[no-untyped-def]
    return ae_mise_en_place_record(
        actor=F.SYSTEM,
        contract=contract,
        draft=AeDraft(
            programme=programme,
            bop=bop,
            year=year,
            amount=amount,
            date=kw.pop("date", D(year, 2, 1)),
            reference=kw.pop("reference", f"NOTIF-{programme}-{year}"),
            **kw,
        ),
    )


@pytest.fixture
def example(hdf_without_maquette):  # type: ignore[no-untyped-def]
    c = hdf_without_maquette
    _allocation(c, "etat", "2.2", 2022, "1000000.00", "P112")
    _allocation(c, "etat", "4.2", 2023, "500000.00", "P150")
    _allocation(c, "region", "2.2", 2022, "300000.00", None)
    p112 = BudgetProgramme.objects.get(code="P112")
    p150 = BudgetProgramme.objects.get(code="P150")
    op1 = F.operation(c, objective="2.2")
    op2 = F.operation(c, objective="4.2")
    a = F.line(op1, "etat", "400000.00", budget_nature="ae_cp", programme=p112, bop="0112-DR59")
    b = F.line(op2, "etat", "200000.00", budget_nature="ae_cp", programme=p150, bop="0150-DR59")
    line_c = F.line(op2, "etat", "50000.00", budget_nature="ae_cp")
    line_d = F.line(op1, "region", "100000.00", budget_nature="ap_cp")
    F.record(a, "commitment", D(2022, 4, 1), "300000.00", reference="2100000001")
    F.record(a, "payment", D(2022, 6, 1), "100000.00")
    paid = F.record(a, "payment", D(2023, 2, 1), "50000.00")
    F.record(a, "payment_cancellation", D(2023, 3, 1), "20000.00", cancels=paid)
    commit_b = F.record(b, "commitment", D(2023, 1, 10), "150000.00", reference="2100000002")
    F.record(b, "decommitment", D(2023, 5, 1), "30000.00", cancels=commit_b)
    F.record(b, "payment", D(2023, 6, 1), "60000.00")
    F.record(line_c, "commitment", D(2023, 7, 1), "10000.00", reference="2100000003")
    F.record(line_d, "commitment", D(2022, 5, 1), "80000.00", reference="ENG-REGION-1")
    F.record(line_d, "payment", D(2022, 9, 1), "10000.00")
    _mep(c, "P112", 2022, "350000.00", bop="0112-DR59")
    _mep(c, "P112", 2023, "100000.00")
    _mep(c, "P112", 2023, "40000.00", kind="withdrawal", note="crédits repris", reference="R-1")
    _mep(c, "P150", 2023, "200000.00", bop="0150-DR59")
    return c


def _figures(row):  # type: ignore[no-untyped-def]
    return (row.contractualised, row.ae_delegated, row.ae_committed, row.cp_paid)


def test_execution_by_programme_equals_the_hand_computed_state_figures(example):  # type: ignore[no-untyped-def]
    table = aggregation.programme_execution(contract=example, as_of=AS_OF)
    rows = {r.key["programme"]: r for r in table.rows}
    assert set(rows) == {"P112", "P150", None}
    assert _figures(rows["P112"]) == (
        Decimal("1000000.00"),
        Decimal("410000.00"),
        Decimal("300000.00"),
        Decimal("130000.00"),
    )
    assert _figures(rows["P150"]) == (
        Decimal("500000.00"),
        Decimal("200000.00"),
        Decimal("120000.00"),
        Decimal("60000.00"),
    )
    assert _figures(rows[None]) == (Decimal("0.00"), Decimal("0.00"), Decimal("10000.00"), 0)
    assert rows["P112"].ae_commitment_rate == Decimal("73.17")
    assert rows["P112"].cp_payment_rate == Decimal("43.33")
    assert rows["P150"].ae_commitment_rate == Decimal("60.00")
    assert rows["P112"].labels["programme"].startswith("P112 — Impulsion et coordination")
    assert rows[None].labels["programme"] == "sans programme"
    assert _figures(table.total) == (
        Decimal("1500000.00"),
        Decimal("610000.00"),
        Decimal("430000.00"),
        Decimal("190000.00"),
    )
    assert [r.key["programme"] for r in table.rows] == ["P112", "P150", None]


def test_execution_by_programme_bop_and_year(example):  # type: ignore[no-untyped-def]
    by_year = aggregation.programme_execution(
        contract=example, as_of=AS_OF, group_by=("programme", "year")
    )
    rows = {(r.key["programme"], r.key["year"]): r for r in by_year.rows}
    assert _figures(rows[("P112", 2022)]) == (
        Decimal("1000000.00"),
        Decimal("350000.00"),
        Decimal("300000.00"),
        Decimal("100000.00"),
    )
    # 2023: AE 100 000 − 40 000; CP 50 000 − 20 000; nothing contracted that year.
    assert _figures(rows[("P112", 2023)]) == (
        Decimal("0.00"),
        Decimal("60000.00"),
        Decimal("0.00"),
        Decimal("30000.00"),
    )
    by_bop = aggregation.programme_execution(
        contract=example, as_of=AS_OF, group_by=("programme", "bop")
    )
    rows2 = {(r.key["programme"], r.key["bop"]): r for r in by_bop.rows}
    # Allocations carry no BOP: contractualisé only in the total.
    assert rows2[("P112", "0112-DR59")].contractualised is None
    assert rows2[("P112", "0112-DR59")].ae_delegated == Decimal("350000.00")
    assert rows2[("P112", "0112-DR59")].ae_committed == Decimal("300000.00")
    assert rows2[("P112", None)].ae_delegated == Decimal("60000.00")
    assert rows2[("P112", None)].labels["bop"] == "sans BOP"
    assert by_bop.total.contractualised == Decimal("1500000.00")


def test_an_earlier_date_leaves_out_later_movements_and_ae(example):  # type: ignore[no-untyped-def]
    table = aggregation.programme_execution(contract=example, as_of=D(2022, 12, 31))
    rows = {r.key["programme"]: r for r in table.rows}
    assert rows["P112"].ae_delegated == Decimal("350000.00")
    assert rows["P112"].cp_paid == Decimal("100000.00")
    assert "P150" in rows and rows["P150"].ae_committed == Decimal("0.00")


def test_the_generic_execution_groups_by_programme_bop_and_budget_nature(example):  # type: ignore[no-untyped-def]
    result = aggregation.execution(contract=example, as_of=AS_OF, group_by=("budget_nature",))
    rows = {r.key["budget_nature"]: r for r in result.rows}
    assert rows["ae_cp"].committed == Decimal("430000.00")
    assert rows["ap_cp"].committed == Decimal("80000.00")
    assert rows["ae_cp"].labels["budget_nature"] == "AE/CP"
    assert result.total.committed == Decimal("510000.00")
    by_bop = aggregation.execution(
        contract=example, as_of=AS_OF, group_by=("bop",), filters={"programme": "P112"}
    )
    assert [(r.key["bop"], r.paid) for r in by_bop.rows] == [("0112-DR59", Decimal("130000.00"))]
    none = aggregation.execution(contract=example, as_of=AS_OF, filters={"programme": None})
    assert none.total.committed == Decimal("90000.00")  # line C and the Region's line


def test_cli_execution_by_programme_json_gives_the_four_figures(example):  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command(
        "execution", example.slug, "--by", "programme", "--as-of", "2023-12-31",
        "--format", "json", stdout=out,
    )  # fmt: skip
    data = json.loads(out.getvalue())
    rows = {r["key"]["programme"]: r for r in data["rows"]}
    assert {k: rows["P112"][k] for k in ("contractualised", "ae_delegated")} == {
        "contractualised": "1000000.00",
        "ae_delegated": "410000.00",
    }
    assert (rows["P112"]["ae_committed"], rows["P112"]["cp_paid"]) == ("300000.00", "130000.00")
    assert rows["P150"]["ae_commitment_rate"] == "60.00"
    assert data["total"]["ae_committed"] == "430000.00"
    assert data["measures"]["ae_committed"] == "AE engagées"


def test_cli_execution_by_programme_text_and_csv(example):  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command(
        "execution", example.slug, "--by", "programme,year", "--as-of", "2023-12-31", stdout=out
    )
    text = out.getvalue()
    assert "AE mises en place" in text and "CP payés" in text
    assert "410\u202f000,00\u00a0€" not in text  # by year: 350 000 and 60 000
    assert "350\u202f000,00\u00a0€" in text
    out = StringIO()
    call_command(
        "execution", example.slug, "--by", "programme", "--as-of", "2023-12-31",
        "--format", "csv", stdout=out,
    )  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("programme,programme_libelle,contractualised,ae_delegated")
    assert any(
        line.startswith("P150,") and ",200000.00,120000.00,60000.00," in line for line in lines
    )


# -- AE mises en place ----------------------------------------------------------------------------


def test_a_withdrawal_beyond_what_is_in_place_is_refused_and_nothing_is_written(example):  # type: ignore[no-untyped-def]
    before = AeMiseEnPlace.objects.count()
    with pytest.raises(AeRefused) as exc:
        ae_mise_en_place_record_many(
            actor=F.SYSTEM,
            contract=example,
            drafts=[
                AeDraft("P150", 2023, "10.00", D(2023, 3, 1), "OK-1", bop="0150-DR59"),
                AeDraft(
                    "P150",
                    2023,
                    "250000.00",
                    D(2023, 3, 2),
                    "R-2",
                    bop="0150-DR59",
                    kind="withdrawal",
                    note="erreur",
                ),
            ],
        )
    assert "dépasse les AE mises en place" in str(exc.value)
    assert exc.value.findings[0].line == 2
    assert AeMiseEnPlace.objects.count() == before


def test_ae_rules_name_their_fields(hdf):  # type: ignore[no-untyped-def]
    with pytest.raises(AeRefused) as exc:
        _mep(hdf, "P999", 2035, "-5", reference="", date=D(2023, 1, 1))
    fields = {f.field for f in exc.value.findings}
    assert fields == {"programme", "amount", "year", "reference"}
    with pytest.raises(AeRefused) as exc:
        _mep(hdf, "P112", 2023, "5.00", kind="withdrawal", date=D(2023, 3, 1))
    assert [f.field for f in exc.value.findings] == ["note", "amount"]


def test_ae_is_recorded_by_state_managers_and_admins_only_and_audited(hdf):  # type: ignore[no-untyped-def]
    state = Partner.objects.get(contract=hdf, code="etat")
    nord = Partner.objects.get(contract=hdf, code="dep-59")
    state_manager = UserFactory(role=Role.PARTNER_MANAGER, organisation=state.organisation)
    nord_manager = UserFactory(role=Role.PARTNER_MANAGER, organisation=nord.organisation)
    admin = UserFactory(role=Role.ADMINISTRATOR, organisation=OrganisationFactory())
    draft = AeDraft("P112", 2023, "1000.00", D(2023, 2, 1), "NOTIF-9")
    with pytest.raises(PermissionDenied):
        ae_mise_en_place_record(
            actor=Actor(user=nord_manager, via="web"), contract=hdf, draft=draft
        )
    made = ae_mise_en_place_record(
        actor=Actor(user=state_manager, via="web"), contract=hdf, draft=draft
    )
    ae_mise_en_place_record(actor=Actor(user=admin, via="web"), contract=hdf, draft=draft)
    assert made.recorded_by == state_manager
    entry = AuditEntry.objects.filter(action="ae.mise_en_place").order_by("id").first()
    assert entry is not None and entry.contract_id == hdf.pk
    assert entry.changes["programme"] == "P112" and entry.changes["montant"] == "1000.00"
    with pytest.raises(AeImmutable):
        made.save()
    with pytest.raises(AeImmutable):
        AeMiseEnPlace.objects.filter(pk=made.pk).update(amount=Decimal("1.00"))


def test_cli_ae_add_and_list(hdf):  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command(
        "ae", "add", hdf.slug, "--programme", "p150", "--bop", "0150-DR59", "--year", "2024",
        "--amount", "1234.50", "--date", "2024-02-01", "--reference", "N-1", stdout=out,
    )  # fmt: skip
    assert "P150 / 0150-DR59, exercice 2024" in out.getvalue()
    out = StringIO()
    call_command("ae", "list", hdf.slug, "--format", "json", stdout=out)
    assert json.loads(out.getvalue())[0]["montant"] == "1234.50"


# -- EJ numbers ----------------------------------------------------------------------------------


def test_a_commitment_on_a_state_line_needs_a_ten_digit_ej_number(hdf):  # type: ignore[no-untyped-def]
    op = F.operation(hdf)
    state_line = F.line(op, "etat", "1000.00", budget_nature="ae_cp")
    region_line = F.line(op, "region", "1000.00", budget_nature="ap_cp")
    with pytest.raises(MovementRefused) as exc:
        F.record(state_line, "commitment", D(2022, 4, 1), "10.00", reference="EJ-1")
    assert exc.value.findings[0].field == "reference"
    assert "un n° d'EJ compte 10 chiffres" in str(exc.value)
    assert not Movement.objects.filter(financing_line=state_line).exists()
    F.record(state_line, "commitment", D(2022, 4, 1), "10.00", reference="1300012345")
    F.record(region_line, "commitment", D(2022, 4, 1), "10.00", reference="ENG-2022-1")
    # The payment's reference is a mandat's, not an EJ.
    F.record(state_line, "payment", D(2022, 5, 1), "5.00", reference="DP-1")


def test_existing_movements_are_not_checked_again(hdf):  # type: ignore[no-untyped-def]
    op = F.operation(hdf)
    state_line = F.line(op, "etat", "1000.00", budget_nature="ae_cp")
    # A commitment recorded before the rule (as the ledger held it), with a free reference.
    Movement.objects.create(
        financing_line=state_line, kind="commitment", date=D(2022, 4, 1), amount=Decimal("10.00"),
        reference="ANCIEN-EJ",
    )  # fmt: skip
    F.record(state_line, "payment", D(2022, 5, 1), "5.00", reference="DP-1")


def test_ej_rule_is_pure():  # type: ignore[no-untyped-def]
    assert rules.ej_reference_findings(kind="commitment", reference="123456789", state_line=True)
    assert rules.ej_reference_findings(kind="commitment", reference="12345678901", state_line=True)
    assert not rules.ej_reference_findings(
        kind="commitment", reference=" 1234567890 ", state_line=True
    )
    assert not rules.ej_reference_findings(kind="commitment", reference="X", state_line=False)
    assert not rules.ej_reference_findings(kind="payment", reference="X", state_line=True)


def test_a_state_line_without_programme_is_a_warning():  # type: ignore[no-untyped-def]
    (finding,) = state_line_findings(
        contractualised=True, partner_kind="state", budget_nature="ae_cp", has_programme=False
    )
    assert finding.field == "programme" and finding.level == "warning"
    assert not state_line_findings(
        contractualised=True, partner_kind="region", budget_nature="ap_cp", has_programme=False
    )


def test_words_of_each_budget_nature():  # type: ignore[no-untyped-def]
    assert measure_labels("ae_cp")["committed"] == "AE engagées"
    assert measure_labels("ae_cp")["paid"] == "CP payés"
    assert measure_labels("ae_cp")["commitment_ref"] == "n° d'EJ"
    assert measure_labels("ap_cp")["paid"] == "CP mandatés"
    assert measure_labels(None)["committed"] == "engagé"
