"""Next year's payment-credit need per partner and per programme, on a hand-computed schedule;
slippage alerts; schedule versions (the latest counts); the command line."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.models import BudgetProgramme
from cper.forecasts import figures
from cper.forecasts.models import LineSchedule
from cper.forecasts.selectors import (
    current_schedules,
    payment_needs,
    report_section,
    slippage_alerts,
)
from cper.forecasts.services import ScheduleRefused, schedule_replace
from tests.finance import factories as ff

D = Decimal
SYSTEM = Actor.system()
TODAY = dt.date(2026, 3, 15)


def test_need_is_next_years_payments_plus_the_positive_shortfall():
    payments = {2024: D("100000"), 2025: D("200000"), 2026: D("300000")}
    need = figures.payment_need(payments=payments, paid=D("230000"), year=2026)
    assert (need.next_year, need.carried, need.total) == (D("300000"), D("70000"), D("370000"))
    ahead = figures.payment_need(payments={2025: D("50000")}, paid=D("90000"), year=2026)
    assert (ahead.next_year, ahead.carried) == (D("0"), D("0.00"))


def test_credit_words_follow_the_partners_budget_nature():
    assert figures.credit_words("ae_cp") == ("AE", "CP")
    assert figures.credit_words("ap_cp") == ("AP", "CP")


def test_slippage_needs_both_the_rate_and_the_floor():
    planned = {2024: D("100000"), 2025: D("100000"), 2026: D("500000")}
    at = dt.date(2026, 3, 15)  # 2024 and 2025 elapsed: 200 000 planned
    slip = figures.slippage(
        planned=planned, actual=D("150000"), at=at, what="payment", rate=D("0.20"), floor=D("10000")
    )
    assert slip is not None and slip.gap == D("50000") and slip.gap_rate == D("25.0")
    # 40 000 behind = 20 % exactly: not more than the rate.
    assert (
        figures.slippage(
            planned=planned,
            actual=D("160000"),
            at=at,
            what="payment",
            rate=D("0.20"),
            floor=D("10000"),
        )
        is None
    )
    # On 31/12/2026 the whole of 2026 is due.
    assert figures.planned_cumulative(planned=planned, at=dt.date(2026, 12, 31)) == D("700000")


@pytest.fixture
def schedule_example(hdf):
    """Two State lines (P112, P150) and a Nord line, their schedules and payments."""
    p112 = BudgetProgramme.objects.get(code="P112")
    p150 = BudgetProgramme.objects.get(code="P150")
    op = ff.operation(hdf, code="OP-PREV-1")
    a = ff.line(op, "etat", "1000000.00", programme=p112)
    b = ff.line(op, "etat", "200000.00", programme=p150)
    c = ff.line(op, "dep-59", "300000.00")
    schedule_replace(
        actor=SYSTEM,
        line=a,
        rows=[
            (2024, D("400000"), D("100000")),
            (2025, D("600000"), D("200000")),
            (2026, D("0"), D("300000")),
        ],
    )
    schedule_replace(
        actor=SYSTEM, line=b, rows=[(2025, D("200000"), D("50000")), (2026, D("0"), D("50000"))]
    )
    schedule_replace(actor=SYSTEM, line=c, rows=[(2026, D("300000"), D("120000"))])
    ff.record(a, "commitment", dt.date(2024, 2, 1), "1000000.00")
    ff.record(a, "payment", dt.date(2024, 6, 1), "80000.00")
    ff.record(a, "payment", dt.date(2025, 3, 1), "150000.00")
    ff.record(a, "payment", dt.date(2026, 1, 10), "40000.00")  # a 2026 payment: not arrears
    ff.record(b, "commitment", dt.date(2025, 2, 1), "200000.00")
    ff.record(b, "payment", dt.date(2025, 5, 1), "90000.00")  # paid ahead of its schedule
    return {"a": a, "b": b, "c": c}


def test_payment_need_per_partner_and_programme_on_a_hand_computed_schedule(hdf, schedule_example):
    needs = payment_needs(contract=hdf, year=2026, today=TODAY)
    assert needs.paid_as_of == dt.date(2025, 12, 31)
    by_partner = {r.partner.code: r for r in needs.partners}
    # Line a: 300 000 planned in 2026 + (100 000 + 200 000 − 230 000) carried = 370 000.
    # Line b: 50 000 planned in 2026; paid 90 000 for 50 000 due: nothing carried.
    state = by_partner["etat"]
    assert (state.need.next_year, state.need.carried, state.need.total) == (
        D("350000.00"),
        D("70000.00"),
        D("420000.00"),
    )
    assert state.words == ("AE", "CP")
    by_programme = {(r.partner.code, r.programme): r.need.total for r in needs.programmes}
    assert by_programme == {
        ("etat", "P112"): D("370000.00"),
        ("etat", "P150"): D("50000.00"),
        ("dep-59", ""): D("120000.00"),
    }
    assert by_partner["dep-59"].words == ("AP", "CP")
    assert needs.total.total == D("540000.00")


def test_the_latest_schedule_version_counts_and_history_is_kept(hdf, schedule_example):
    c = schedule_example["c"]
    version = schedule_replace(
        actor=SYSTEM, line=c, rows=[(2026, D("300000"), D("20000")), (2027, D("0"), D("100000"))]
    )
    assert version == 2
    assert LineSchedule.objects.filter(line=c).count() == 3  # v1 kept
    current = current_schedules(line_ids=[c.pk])[c.pk]
    assert current.payments == {2026: D("20000.00"), 2027: D("100000.00")}
    needs = payment_needs(contract=hdf, year=2026, today=TODAY)
    assert {r.partner.code: r.need.total for r in needs.partners}["dep-59"] == D("20000.00")
    audit = AuditEntry.objects.filter(action="line.schedule_replaced", subject_id=str(c.pk))
    assert audit.count() == 2


def test_a_schedule_above_the_line_is_refused_and_nothing_written(hdf):
    op = ff.operation(hdf)
    line = ff.line(op, "etat", "100000.00")
    with pytest.raises(ScheduleRefused, match="dépassent le montant de la ligne"):
        schedule_replace(actor=SYSTEM, line=line, rows=[(2025, D("150000"), D("0"))])
    with pytest.raises(ScheduleRefused, match="hors de la période"):
        schedule_replace(actor=SYSTEM, line=line, rows=[(2040, D("1"), D("0"))])
    assert not LineSchedule.objects.filter(line=line).exists()


def test_only_the_lines_partner_may_replace_its_schedule(hdf, actors):
    op = ff.operation(hdf)
    line = ff.line(op, "etat", "100000.00")
    with pytest.raises(PermissionDenied):
        schedule_replace(actor=actors["nord"], line=line, rows=[(2025, D("1"), D("1"))])
    assert schedule_replace(actor=actors["state"], line=line, rows=[(2025, D("1"), D("1"))]) == 1


def test_slippage_alerts_list_lines_behind_their_schedule(hdf, schedule_example):
    alerts = slippage_alerts(contract=hdf, at=TODAY)
    found = {(a.line.pk, a.slip.what): a.slip for a in alerts.rows}
    # Line a: 300 000 CP due by 31/12/2025, 270 000 paid by 15/03/2026 → 30 000 = 10 %: no.
    # Line c: nothing due before 2026. Line b: paid ahead.
    assert found == {}
    later = slippage_alerts(contract=hdf, at=dt.date(2026, 12, 31))
    found = {(a.line.pk, a.slip.what): a.slip.gap for a in later.rows}
    # On 31/12/2026, line a: 600 000 CP due, 270 000 paid → 330 000; line c: 300 000 AP
    # due, nothing committed; 120 000 CP due, nothing paid; line b: 100 000 due, 90 000 paid
    # → 10 000, not above the floor.
    a, c = schedule_example["a"], schedule_example["c"]
    assert found == {
        (a.pk, "payment"): D("330000.00"),
        (c.pk, "commitment"): D("300000.00"),
        (c.pk, "payment"): D("120000.00"),
    }
    assert [x.slip.gap for x in later.rows] == sorted(found.values(), reverse=True)


def test_cli_need_as_json(hdf, schedule_example):
    out = StringIO()
    call_command("forecasts", "need", hdf.slug, "--year", "2026", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    state = next(p for p in data["partners"] if p["partenaire"] == "etat")
    assert (state["cp_prevus_n1"], state["report"], state["besoin"]) == (
        "350000.00",
        "70000.00",
        "420000.00",
    )


def test_cli_import_replaces_schedules_or_writes_nothing(hdf, tmp_path):
    op = ff.operation(hdf, code="OP-PREV-9")
    line = ff.line(op, "etat", "500000.00")
    f = tmp_path / "echeanciers.csv"
    f.write_text(
        "N° d'opération;Partenaire;Année;Engagement prévu;Paiement prévu\n"
        "OP-PREV-9;etat;2025;500 000,00;100 000,00\n"
        "OP-PREV-9;etat;2026;;250 000\n"
        "OP-PREV-9;region;2026;1;1\n",
        encoding="utf-8",
    )
    err = StringIO()
    with pytest.raises(CommandError, match="rien n'a été enregistré"):
        call_command("forecasts", "import", hdf.slug, str(f), stderr=err)
    assert "ligne 4, operation" in err.getvalue()
    assert not LineSchedule.objects.exists()
    f.write_text("\n".join(f.read_text(encoding="utf-8").splitlines()[:3]) + "\n", "utf-8")
    out = StringIO()
    call_command("forecasts", "import", hdf.slug, str(f), stdout=out)
    assert "1 échéancier(s) enregistré(s)" in out.getvalue()
    assert current_schedules(line_ids=[line.pk])[line.pk].payments == {
        2025: D("100000.00"),
        2026: D("250000.00"),
    }


def test_report_section_gives_the_need_for_the_following_year_and_the_slips(hdf, schedule_example):
    section = report_section(contract=hdf, at=dt.date(2025, 12, 31))
    assert section["annee_besoin"] == 2026
    state = next(b for b in section["besoins"] if b["partenaire"].startswith("État"))
    assert (state["cp_n1"], state["report"], state["besoin"]) == (
        D("350000.00"),
        D("70000.00"),
        D("420000.00"),
    )
    assert section["total"]["besoin"] == D("540000.00")
    programmes = {
        (b["partenaire"][:4], b["programme"][:4]) for b in section["besoins_par_programme"]
    }
    assert ("État", "P112") in programmes and ("État", "P150") in programmes
    # On 31/12/2025, line a: 300 000 CP due, 230 000 paid → 70 000 (23.3 %) behind.
    slips = [(r["sur"], r["ecart"], r["ecart_pct"]) for r in section["retards"]]
    assert slips == [("paiements (CP)", D("70000.00"), D("23.3"))]
    assert section["retards_total"] == 1


def test_cli_alerts_lists_the_slips(hdf, schedule_example):
    out = StringIO()
    call_command("forecasts", "alerts", hdf.slug, "--at", "2025-12-31", stdout=out)
    text = out.getvalue().replace("\u202f", " ").replace("\xa0", " ")
    assert "retards au 31/12/2025 : 1" in text
    assert "OP-PREV-1" in text and "écart 70 000,00 €" in text


def test_slippage_alerts_keep_the_largest_gaps_and_count_them_all(hdf, schedule_example):
    a, c = schedule_example["a"], schedule_example["c"]
    alerts = slippage_alerts(contract=hdf, at=dt.date(2026, 12, 31), limit=2)
    assert [(x.line.pk, x.slip.what, x.slip.gap) for x in alerts.rows] == [
        (a.pk, "payment", D("330000.00")),
        (c.pk, "commitment", D("300000.00")),
    ]
    assert alerts.count == 3  # line c's 120 000 CP behind is counted, not listed
    assert alerts.rows[1].what_label == "engagements (AP)"
    state_only = slippage_alerts(
        contract=hdf, at=dt.date(2026, 12, 31), partner=a.partner, limit=10
    )
    assert [(x.line.pk, x.slip.what) for x in state_only.rows] == [(a.pk, "payment")]


def test_slippage_counts_movements_up_to_the_date_and_the_rate_exactly(hdf):
    op = ff.operation(hdf, code="OP-PREV-2")
    line = ff.line(op, "etat", "500000.00")
    schedule_replace(actor=SYSTEM, line=line, rows=[(2025, D("0"), D("100000"))])
    ff.record(line, "commitment", dt.date(2025, 1, 10), "100000.00")
    paid = ff.record(line, "payment", dt.date(2025, 4, 1), "80000.00")
    at = dt.date(2026, 3, 15)
    # 100 000 due, 80 000 paid: 20 000 behind = 20 % exactly, not more than the rate.
    assert slippage_alerts(contract=hdf, at=at).count == 0
    ff.record(line, "payment_cancellation", dt.date(2025, 6, 1), "0.01", cancels=paid)
    # 79 999,99 paid: 20 000,01 behind, above 20 %.
    slips = slippage_alerts(contract=hdf, at=at).rows
    assert [(s.slip.what, s.slip.planned, s.slip.actual, s.slip.gap) for s in slips] == [
        ("payment", D("100000.00"), D("79999.99"), D("20000.01"))
    ]
    # A payment dated after the date does not count at that date, but does at its own.
    ff.record(line, "payment", dt.date(2026, 6, 1), "20000.01")
    assert slippage_alerts(contract=hdf, at=at).count == 1
    assert slippage_alerts(contract=hdf, at=dt.date(2026, 6, 1)).count == 0
    # Nor in the shortfall that the 2026 need carries (payments dated ≤ 31/12/2025).
    needs = payment_needs(contract=hdf, year=2026, today=at)
    assert needs.total == figures.Need(D("0.00"), D("20000.01"))
