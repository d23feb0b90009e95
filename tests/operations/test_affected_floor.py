"""A line of a local authority never falls below the AP affectée it reached (AP/CP chain):
lowering its amount below it is refused, so that `cper contract check` stays clean."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cper.audit.services import Actor
from cper.finance.rules import ledger_breaches
from cper.operations import rules, services
from cper.operations.lifecycle import ledger_floor_findings
from cper.operations.models import FinancingLine
from tests.finance import factories as f

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system()


def _plain(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")


def test_the_rule_names_the_peak_of_the_ap_affectee():
    found = rules.affected_floor_findings(
        amount=Decimal("700.00"), peak=Decimal("800.00"), peak_day=dt.date(2023, 6, 1)
    )
    assert [_plain(x.message) for x in found] == [
        "L'AP affectée à la ligne a atteint 800,00 € le 01/06/2023 : ramener son montant à "
        "700,00 € la rendrait supérieure au programmé à cette date dans le grand livre."
    ]
    assert not rules.affected_floor_findings(amount=Decimal("800.00"), peak=Decimal("800.00"))


def test_lowering_a_region_line_below_its_ap_affectee_is_refused(hdf):
    line = f.line(f.operation(hdf), "region", "1000.00")
    f.record(line, "affectation", dt.date(2023, 6, 1), "800.00", reference="CP-1")
    f.record(line, "commitment", dt.date(2023, 7, 1), "300.00", reference="R-1", affect=False)
    fresh = FinancingLine.objects.select_related("operation").get(pk=line.pk)
    with pytest.raises(ValidationError) as refused:
        services.financing_line_update(actor=SYSTEM, line=fresh, amount=Decimal("799.99"))
    assert "L'AP affectée à la ligne a atteint 800,00 €" in _plain(refused.value.messages[0])
    assert FinancingLine.objects.get(pk=line.pk).amount == Decimal("1000.00")
    services.financing_line_update(actor=SYSTEM, line=fresh, amount=Decimal("800.00"))
    assert ledger_breaches(hdf) == []


def test_the_floor_of_an_ap_cp_line_reads_its_movements_once(hdf):
    line = f.line(f.operation(hdf), "region", "1000.00")
    f.record(line, "affectation", dt.date(2023, 6, 1), "800.00", reference="CP-1")
    f.record(line, "commitment", dt.date(2023, 7, 1), "300.00", reference="R-1", affect=False)
    fresh = FinancingLine.objects.select_related("operation__contract", "partner").get(pk=line.pk)
    with CaptureQueriesContext(connection) as ctx:
        found = ledger_floor_findings([fresh], amounts={line.pk: Decimal("250.00")})
    # both floors named (the AP affectée then the committed amount), from one read of the ledger
    assert [_plain(x.message)[:30] for x in found] == [
        "L'AP affectée à la ligne a att",
        "Le montant (250,00 €) est infé",
    ]
    assert sum("finance_movement" in q["sql"] for q in ctx.captured_queries) == 1
