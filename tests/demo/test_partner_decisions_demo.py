"""The demo's chapter of the partners' decisions (issue 12): every committed partner line gets
its partner's decision; under the CPER setting the decisions come before the commitments they
allow, the demo keeps programmed figures and the checks pass."""

from __future__ import annotations

import datetime as dt

from django.core.management import call_command

from cper.checks import BLOCKING, run_checks
from cper.contracts.models import Contract, ProgrammingMode
from cper.db import Provenance
from cper.demo.partner_decisions import demo_partner_decisions
from cper.finance import summaries
from cper.finance.aggregation import execution
from cper.finance.models import LineState, Movement
from cper.operations.models import PROGRAMMED_STATUSES, LineStatus, PartnerDecision


def _committed_partner_lines(contract) -> set[int]:  # type: ignore[no-untyped-def]
    return set(
        Movement.objects.filter(
            financing_line__operation__contract=contract,
            financing_line__partner__isnull=False,
            financing_line__status=LineStatus.ACTIVE,
            financing_line__operation__status__in=list(PROGRAMMED_STATUSES),
        ).values_list("financing_line_id", flat=True)
    )


def test_the_demo_decides_every_committed_line_before_its_first_commitment(hdf):
    call_command("demo", "--operations", "80", "--no-users", "--seed", "4")
    decisions = PartnerDecision.objects.filter(financing_line__operation__contract=hdf)
    assert set(decisions.values_list("provenance", flat=True)) == {Provenance.ILLUSTRATIVE}
    by_line = {d.financing_line_id: d for d in decisions}
    committed = _committed_partner_lines(hdf)
    assert committed and committed <= set(by_line)
    for line_id in committed:
        first = Movement.objects.filter(financing_line_id=line_id).order_by("date").first()
        assert by_line[line_id].date <= first.date
    # Run again: a line decided is not decided twice (a line left awaiting its decision, by
    # design for a few lines without movements, may be decided now).
    demo_partner_decisions(contract=hdf, seed=4, scale="S")
    again = PartnerDecision.objects.filter(financing_line_id__in=list(by_line))
    assert again.count() == len(by_line)


def test_under_the_cper_setting_the_demo_keeps_programmed_figures_and_passes_the_checks(hdf):
    Contract.objects.filter(pk=hdf.pk).update(programming_mode=ProgrammingMode.PARTNER_DECISION)
    call_command("demo", "--operations", "80", "--no-users", "--seed", "4")
    decisions = PartnerDecision.objects.filter(financing_line__operation__contract=hdf)
    # The ledger refuses a commitment on a line awaiting its decision: every one was decided.
    decided = set(decisions.values_list("financing_line_id", flat=True))
    assert _committed_partner_lines(hdf) <= decided
    decisions = decisions.filter(financing_line__contractualised=True)
    total = execution(contract=hdf, as_of=dt.date.today()).total
    assert total.programmed > 0
    states = LineState.objects.filter(contract_id=hdf.pk, counted=True)
    programmed_ops = set(
        decisions.filter(
            financing_line__operation__status__in=list(PROGRAMMED_STATUSES),
            financing_line__status=LineStatus.ACTIVE,
        ).values_list("pk", "amount")
    )
    assert sum(s.programmed for s in states) == sum(int(a * 100) for _, a in programmed_ops)
    assert summaries.verify(hdf) == []
    assert [f.message for f in run_checks(hdf) if f.level == BLOCKING] == []
