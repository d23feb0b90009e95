"""`cper maquette` and `cper amendment`: the acceptance commands of the issue."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from cper.maquette.selectors import maquette_table
from tests.conftest import HDF_SLUG


def _run(capsys, *args):
    call_command(*args)
    return capsys.readouterr().out


def test_before_the_mobility_amendment_axis_5_has_no_money(hdf, capsys):
    out = _run(
        capsys, "maquette", HDF_SLUG, "--as-of", "2023-12-31", "--by", "axis", "--format", "json"
    )
    data = json.loads(out)
    assert data["amendments"] == [] and data["total"] == "2700000000.00"
    assert [r["axis"] for r in data["rows"]] == [1, 2, 3, 4, 6]
    assert all(r["axis"] != 5 for r in data["rows"])


def test_after_it_axis_5_has_693_meur_from_the_state_and_the_region(hdf, capsys):
    out = _run(
        capsys,
        "maquette",
        HDF_SLUG,
        "--as-of",
        "2024-12-31",
        "--by",
        "axis,partner",
        "--format",
        "json",
    )
    data = json.loads(out)
    axis5 = {r["partner"]: r["amount"] for r in data["rows"] if r["axis"] == 5}
    assert axis5["etat"] == "693000000.00" and axis5["region"] == "693000000.00"
    assert data["amendments"] == [1] and data["envelope"] == "4700000000.00"
    by_axis = json.loads(
        _run(
            capsys,
            "maquette",
            HDF_SLUG,
            "--as-of",
            "2024-12-31",
            "--by",
            "axis",
            "--format",
            "json",
        )
    )
    assert {r["axis"]: r["amount"] for r in by_axis["rows"]}[5] == "2000000000.00"


def test_the_diff_between_those_dates_names_amendment_1_and_nothing_else(hdf, capsys):
    out = _run(
        capsys,
        "maquette",
        "diff",
        HDF_SLUG,
        "--from",
        "2023-12-31",
        "--to",
        "2024-12-31",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert [a["number"] for a in data["amendments"]] == [1]
    assert data["total_delta"] == "2000000000.00"
    assert {n for c in data["cells"] for n in c["amendments"]} == {1}
    assert {r["axis"] for r in data["by_axis"]} == {5}
    text = _run(capsys, "maquette", "diff", HDF_SLUG, "--from", "2023-12-31", "--to", "2024-12-31")
    assert "Avenant n°1" in text and "Avenant n°2" not in text
    rows = list(
        csv.DictReader(
            io.StringIO(
                _run(
                    capsys,
                    "maquette",
                    "diff",
                    HDF_SLUG,
                    "--from",
                    "0",
                    "--to",
                    "v2",
                    "--format",
                    "csv",
                )
            )
        )
    )
    assert {r["amendments"] for r in rows} <= {"1", "2"} and sum(
        Decimal(r["delta"]) for r in rows
    ) == 2_000_000_000


def test_versions_and_text_and_csv_formats(hdf, capsys):
    v0 = json.loads(
        _run(capsys, "maquette", HDF_SLUG, "--version", "0", "--by", "partner", "--format", "json")
    )
    assert v0["version"] == 0 and v0["as_of"] is None
    assert {r["partner"]: r["amount"] for r in v0["rows"]}["etat"] == "994260000.00"
    text = _run(capsys, "maquette", HDF_SLUG, "--version", "1", "--by", "axis")
    assert "version 1" in text and "Avenants pris en compte : n°1" in text
    assert "4\u202f700\u202f000\u202f000,00\u00a0€" in text
    rows = list(
        csv.DictReader(
            io.StringIO(_run(capsys, "maquette", HDF_SLUG, "--by", "year", "--format", "csv"))
        )
    )
    assert rows[0]["year"] == "2021" and all("." in r["amount"] for r in rows)


def test_cli_csv_and_table_agree_on_partner_and_axis_totals(hdf, capsys):
    table = maquette_table(contract=hdf, version=2)
    rows = list(
        csv.DictReader(
            io.StringIO(
                _run(
                    capsys,
                    "maquette",
                    HDF_SLUG,
                    "--version",
                    "2",
                    "--by",
                    "partner",
                    "--format",
                    "csv",
                )
            )
        )
    )
    assert {r["partner"]: Decimal(r["amount"]) for r in rows} == table.partner_totals
    rows = list(
        csv.DictReader(
            io.StringIO(
                _run(
                    capsys,
                    "maquette",
                    HDF_SLUG,
                    "--version",
                    "2",
                    "--by",
                    "axis",
                    "--format",
                    "csv",
                )
            )
        )
    )
    assert {int(r["axis"]): Decimal(r["amount"]) for r in rows} == table.axis_total_map


@pytest.mark.parametrize(
    "args",
    [
        ("maquette", "inconnu"),
        ("maquette", HDF_SLUG, "--by", "commune"),
        ("maquette", HDF_SLUG, "--as-of", "2024-13-01"),
        ("maquette", HDF_SLUG, "--as-of", "2024-01-01", "--version", "1"),
        ("maquette", "diff", HDF_SLUG, "--from", "0"),
        ("maquette", "diff", HDF_SLUG, "--from", "x", "--to", "1"),
        ("amendment", "show", HDF_SLUG, "9"),
    ],
)
def test_bad_arguments_are_explained(hdf, args):
    with pytest.raises(CommandError):
        call_command(*args)


def test_amendment_list_and_show(hdf, capsys):
    out = _run(capsys, "amendment", "list", HDF_SLUG)
    assert "n°1\t2024-04-26\tajout de crédits" in out and "n°2\t2025-07-01" in out
    data = json.loads(_run(capsys, "amendment", "list", HDF_SLUG, "--format", "json"))
    assert [(a["number"], a["net"]) for a in data] == [(1, "2000000000.00"), (2, "0.00")]
    show = _run(capsys, "amendment", "show", HDF_SLUG, "1")
    assert "Adopté le 2023-11-23 ; signé le 2024-04-26 ; en vigueur le 2024-04-26" in show
    assert "ferroviaire" in show
    one = json.loads(_run(capsys, "amendment", "show", HDF_SLUG, "2", "--format", "json"))
    assert one["envelope_before"] == one["envelope_after"] == "4700000000.00"
    assert {x["axis"]: x["delta"] for x in one["by_axis"]} == {
        2: "1000000.00",
        3: "5000000.00",
        4: "-6000000.00",
    }
    assert len(one["changes"]) == 8
