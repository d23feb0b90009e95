"""`cper.db`: the row-level mechanics the batch services share (here `update_rows`)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from cper.db import ids_in, update_rows
from cper.finance.models import LineState
from cper.finance.summaries.snapshots import STATE_FIELDS
from tests.finance import factories as F


def test_update_rows_sets_each_row_its_own_values_nulls_included(hdf):
    op = F.operation(hdf)
    lines = [F.line(op, "etat"), F.line(op, "region"), F.line(op, None)]
    untouched = F.line(F.operation(hdf), "etat")
    before = {s.pk: s for s in LineState.objects.all()}
    update_rows(
        LineState,
        ("status", "counted", "programmed", "programmed_on", "partner_id", "epci"),
        [
            (lines[0].pk, "completed", False, 0, None, None, ""),
            (
                lines[1].pk,
                "in_progress",
                True,
                12_345,
                dt.date(2023, 5, 2),
                before[lines[1].pk].partner_id,
                "200093201",
            ),
            (lines[2].pk, "abandoned", False, 0, None, None, ""),
        ],
    )
    states = {s.pk: s for s in LineState.objects.all()}
    assert (states[lines[0].pk].status, states[lines[0].pk].programmed_on) == ("completed", None)
    assert states[lines[0].pk].partner_id is None and not states[lines[0].pk].counted
    assert (states[lines[1].pk].programmed, states[lines[1].pk].programmed_on) == (
        12_345,
        dt.date(2023, 5, 2),
    )
    assert states[lines[1].pk].epci == "200093201" and states[lines[1].pk].counted
    assert states[lines[2].pk].status == "abandoned"
    # the other rows and the other columns are left as they were
    for field in STATE_FIELDS:
        assert getattr(states[untouched.pk], field) == getattr(before[untouched.pk], field)
    assert states[lines[1].pk].operation_id == before[lines[1].pk].operation_id
    assert states[lines[1].pk].committed == before[lines[1].pk].committed
    # a column of NULLs only (PostgreSQL: an array of unknown type, cast to the column's)
    update_rows(LineState, ("programmed_on", "partner_id"), [(lines[1].pk, None, None)])
    assert LineState.objects.values_list("programmed_on", "partner_id").get(pk=lines[1].pk) == (
        None,
        None,
    )


@pytest.mark.django_db
def test_postgresql_connections_run_without_jit():
    # The JIT compiler cost the dashboards' alerts more than running them (docs/performance.md).
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_ids_in_selects_exactly_the_ids_given_and_reads_their_range(hdf):
    op = F.operation(hdf)
    a, b, c = (F.line(op, code).pk for code in ("etat", "region", "etat"))
    found = LineState.objects.filter(ids_in("pk", [c, a, a]))
    assert sorted(found.values_list("pk", flat=True)) == [a, c]
    assert b not in found.values_list("pk", flat=True)  # within the range, not in the list
    sql = str(found.query)
    assert "IN" in sql and ">=" in sql and "<=" in sql
    assert not LineState.objects.filter(ids_in("pk", [])).exists()
