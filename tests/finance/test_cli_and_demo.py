"""`cper execution` (formats, filters, rebuild) and the demonstration movements."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cper.finance import summaries
from cper.finance.demo import line_movements, movements_generate
from cper.finance.management.commands.execution import parse_filters
from cper.finance.models import Movement
from cper.finance.rules import Entry, ledger_breaches, ledger_findings
from tests.conftest import HDF_SLUG
from tests.finance import factories as F

D = dt.date


@pytest.fixture
def small(hdf):  # type: ignore[no-untyped-def]
    op = F.operation(hdf, programmed_on=D(2022, 2, 1), markers=("emploi-formation-orientation",))
    line = F.line(op, "etat", "1000.00")
    F.record(line, "commitment", D(2022, 3, 1), "600.00")
    F.record(line, "payment", D(2023, 4, 1), "100.50")
    F.line(F.operation(hdf, communes=("80021",), programmed_on=D(2023, 1, 5)), "region", "50.00")
    return hdf


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("execution", *args, stdout=out)
    return out.getvalue()


def test_json_output(small):
    data = json.loads(run(HDF_SLUG, "--by", "partner,year", "--format", "json"))
    assert data["contract"] == HDF_SLUG and data["group_by"] == ["partner", "year"]
    rows = {(r["key"]["partner"], r["key"]["year"]): r for r in data["rows"]}
    assert rows[("etat", 2022)]["committed"] == "600.00"
    assert rows[("etat", 2023)]["paid"] == "100.50"
    assert rows[("region", 2023)]["programmed"] == "50.00"
    assert data["total"]["remaining_to_pay"] == "499.50"


def test_csv_output_with_filters_and_date(small):
    text = run(
        HDF_SLUG,
        "--by",
        "axis",
        "--filter",
        "departement=59",
        "--as-of",
        "2023-03-31",
        "--format",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:2] == ["axis", "axis_libelle"]
    assert rows[0]["axis"] == "2" and rows[0]["programmed"] == "1000.00"
    assert rows[0]["paid"] == "0.00" and rows[0]["maquette"] == ""  # no maquette by département
    assert rows[-1]["axis"] == "total" and rows[-1]["committed"] == "600.00"


def test_text_output(small):
    text = run(HDF_SLUG, "--by", "partner", "--filter", "marker=emploi-formation-orientation")
    assert "situation au" in text and "Filtres : marker=emploi-formation-orientation" in text
    assert "État" in text and "600,00\u00a0€" in text and "Total" in text


def test_errors_are_french(small):
    with pytest.raises(CommandError, match="contrat inconnu"):
        run("nope")
    with pytest.raises(CommandError, match="regroupement inconnu"):
        run(HDF_SLUG, "--by", "ville")
    with pytest.raises(CommandError, match="date invalide"):
        run(HDF_SLUG, "--as-of", "31/12/2023")
    with pytest.raises(CommandError, match="attendu clé=valeur"):
        run(HDF_SLUG, "--filter", "departement")


def test_filters_parse_lists_and_numbers():
    assert parse_filters("departement=59|62,axis=2,year=2023,marker=a,marker=b") == {
        "departement": ["59", "62"],
        "axis": 2,
        "year": 2023,
        "marker": ["a", "b"],
    }


def test_rebuild_summaries_command(small):
    from cper.finance.models import ExecutionCell

    ExecutionCell.objects.filter(contract=small).delete()
    assert summaries.verify(small)
    assert "agrégats reconstruits" in run("rebuild-summaries", HDF_SLUG)
    assert summaries.verify(small) == []
    assert "agrégats reconstruits" in run("rebuild-summaries")


def test_generated_sequences_respect_every_invariant():
    import random

    rng = random.Random(7)
    for status in ("programmed", "in_progress", "completed", "closed", "draft"):
        for _ in range(300):
            amount = rng.randint(1, 10_000_000)
            on = D(2021, 1, 1) + dt.timedelta(days=rng.randint(0, 2000))
            seq = line_movements(
                amount=amount, status=status, programmed_on=on, today=D(2026, 11, 29), rng=rng
            )
            if status == "draft":
                assert seq == []
                continue
            entries = [Entry(k, d, Decimal(c)) for k, d, c, _ in seq]
            assert ledger_findings(entries=entries, programmed=Decimal(amount)) == []
            for _kind, day, cents, cancels in seq:
                assert on <= day <= D(2026, 11, 29) and cents > 0
                if cancels is not None:
                    target = seq[cancels]
                    assert target[1] <= day and cents <= target[2]
            if status == "closed" and seq:
                committed = sum(
                    e.amount * (1 if e.kind == "commitment" else -1)
                    for e in entries
                    if e.kind in ("commitment", "decommitment")
                )
                paid = sum(
                    e.amount * (1 if e.kind == "payment" else -1)
                    for e in entries
                    if e.kind.startswith("payment")
                )
                assert committed == paid  # a closed operation is paid off


def test_movements_generate_on_factory_operations(hdf):
    ops = [
        F.operation(hdf, status=s, programmed_on=D(2022, 1, 10) + dt.timedelta(days=40 * i))
        for i, s in enumerate(["programmed", "in_progress", "completed", "closed"] * 5)
    ]
    ops.append(F.operation(hdf, status="submitted", programmed_on=None))
    for op in ops:
        F.line(op, "etat", "250000.00")
        F.line(op, "region", "125000.00")
    report = movements_generate(contract=hdf, rng_seed=11, scale="S")
    assert report.movements == Movement.objects.count()
    assert 6 * 40 <= report.movements <= 14 * 40  # about ten per programmed line
    assert not Movement.objects.filter(financing_line__operation=ops[-1]).exists()
    assert ledger_breaches(hdf) == []
    assert summaries.verify(hdf) == []
    from django.db.models import Count

    before = dict(
        Movement.objects.values_list("financing_line_id").annotate(n=Count("id")).order_by()
    )
    movements_generate(contract=hdf, rng_seed=11, scale="S")
    after = dict(
        Movement.objects.values_list("financing_line_id").annotate(n=Count("id")).order_by()
    )
    assert all(after[line] == n for line, n in before.items())  # left alone


def test_text_output_without_grouping(small):
    """`cper execution SLUG` without `--by`: the total alone, in text (it used to crash)."""
    text = run(HDF_SLUG)
    lines = text.splitlines()
    assert "situation au" in lines[0]
    assert lines[1].split()[:2] == ["maquette", "programmé"]
    assert lines[-1].startswith("Total") and "600,00\u00a0€" in lines[-1]
