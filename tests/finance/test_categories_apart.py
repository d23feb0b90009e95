"""The execution figures count only contractualised lines (issue 12, item 4): a partner's
valorised line and every co-financing (EU funds, the State's operators, Banque des Territoires,
the owner) stay out of programmed, committed and paid, even with movements of their own.

Hand-built operation (programmed 15/03/2022, objective 2.2), amounts in euros:
- État 4 000 contractualised: commitment 3 000 (01/04/2022), payment 1 000 (10/05/2022);
- Région 1 500 valorised (not contractualised): commitment 1 500, payment 700;
- ADEME 2 000 (opérateur de l'État): commitment 2 000, payment 900;
- Banque des Territoires 600: commitment 600;
- FEDER 2 500: commitment 2 500, payment 1 200.
Expected: programmed 4 000, committed 3 000, paid 1 000 — the État line alone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.finance.aggregation import execution
from tests.finance import factories as F

pytestmark = pytest.mark.django_db

D = dt.date


@pytest.fixture
def operation(hdf):  # type: ignore[no-untyped-def]
    op = F.operation(hdf, code="CAT-1", programmed_on=D(2022, 3, 15))
    etat = F.line(op, "etat", "4000.00")
    region = F.line(op, "region", "1500.00", contractualised=False)
    ademe = F.line(op, None, "2000.00", financer_kind="state_operator", financer_label="ADEME")
    bdt = F.line(
        op,
        None,
        "600.00",
        financer_kind="banque_des_territoires",
        financer_label="Banque des Territoires",
    )
    feder = F.line(op, None, "2500.00", financer_kind="eu_fund", financer_label="FEDER")
    F.record(etat, "commitment", D(2022, 4, 1), "3000.00")
    F.record(etat, "payment", D(2022, 5, 10), "1000.00")
    F.record(region, "commitment", D(2022, 4, 1), "1500.00")
    F.record(region, "payment", D(2022, 5, 10), "700.00")
    F.record(ademe, "commitment", D(2022, 4, 1), "2000.00")
    F.record(ademe, "payment", D(2022, 5, 10), "900.00")
    F.record(bdt, "commitment", D(2022, 4, 1), "600.00")
    F.record(feder, "commitment", D(2022, 4, 1), "2500.00")
    F.record(feder, "payment", D(2022, 5, 10), "1200.00")
    return op


def test_valorised_and_cofinancing_never_enter_execution_totals(hdf, operation):
    result = execution(contract=hdf, group_by=("partner",), as_of=D(2024, 12, 31))
    t = result.total
    assert (t.programmed, t.committed, t.paid) == (
        Decimal("4000.00"),
        Decimal("3000.00"),
        Decimal("1000.00"),
    )
    programmed = {r.key["partner"]: r.programmed for r in result.rows if r.programmed}
    assert programmed == {"etat": Decimal("4000.00")}  # the Région's valorised line is out
    committed = {r.key["partner"]: r.committed for r in result.rows if r.committed}
    assert committed == {"etat": Decimal("3000.00")}
