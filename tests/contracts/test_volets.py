"""Volets of a contract (issue 12): each with its own period, envelope and axes — the reference
file's two volets, the file's checks, the share report of `cper contract check` per volet, the
migration of a contract loaded before volets existed, the contract page and the API."""

from __future__ import annotations

import importlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.urls import reverse

from cper.audit.services import Actor
from cper.checks import WARNING, run_checks
from cper.contracts.loader import ContractFileError, contract_file_parse
from cper.contracts.models import Axis, Volet
from cper.loading import contract_load
from cper.maquette.selectors import maquette_amounts
from cper.money import format_eur
from tests.conftest import HDF_FILE, HDF_SLUG


def _migration():  # type: ignore[no-untyped-def]
    """The contracts migration that adds volets, whatever number the integration gives it."""
    folder = Path(__file__).resolve().parents[2] / "cper" / "contracts" / "migrations"
    (path,) = folder.glob("*_volets.py")
    return importlib.import_module(f"cper.contracts.migrations.{path.stem}")


def test_the_reference_file_has_its_two_volets_with_their_periods_envelopes_and_axes(hdf):
    volets = list(Volet.objects.filter(contract=hdf).order_by("position"))
    assert [(v.code, v.start_year, v.end_year, v.amendment_number) for v in volets] == [
        ("hors-mobilites", 2021, 2027, None),
        ("mobilites", 2023, 2027, 1),
    ]
    hors, mobilites = volets
    assert (hors.envelope, hors.provenance) == (Decimal("2700000000.00"), "official")
    assert (mobilites.envelope, mobilites.provenance) == (Decimal("2000000000.00"), "illustrative")
    axes = dict(Axis.objects.filter(contract=hdf).values_list("number", "volet__code"))
    assert axes == {
        1: "hors-mobilites",
        2: "hors-mobilites",
        3: "hors-mobilites",
        4: "hors-mobilites",
        5: "mobilites",
        6: "hors-mobilites",
    }
    # the contract's own figures are those of its file, as before
    hdf.refresh_from_db()
    assert (hdf.start_year, hdf.end_year, hdf.envelope) == (2021, 2027, Decimal("2700000000.00"))


def _file_with(tmp_path: Path, old: str, new: str) -> Path:
    text = HDF_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "contrat.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_an_axis_naming_an_unknown_volet_is_refused_with_its_key(tmp_path):
    path = _file_with(tmp_path, "    volet: mobilites\n", "    volet: ferroviaire\n")
    with pytest.raises(ContractFileError) as exc:
        contract_file_parse(path)
    (error,) = exc.value.errors
    assert error.where == "axes[4].volet" and "volet inconnu « ferroviaire »" in error.message
    assert error.line is not None


def test_a_volet_outside_the_contract_period_is_refused(tmp_path):
    path = _file_with(
        tmp_path, "period: {start: 2023, end: 2027}\n", "period: {start: 2023, end: 2030}\n"
    )
    with pytest.raises(ContractFileError) as exc:
        contract_file_parse(path)
    assert any(
        e.where == "volets[1].period" and "sort de la période du contrat (2021-2027)" in e.message
        for e in exc.value.errors
    )


def test_check_has_no_tolerance_warning_on_axes_1_to_4_and_explains_the_shares_per_volet(
    hdf, capsys
):
    call_command("contract", "check", HDF_SLUG)
    out = capsys.readouterr().out
    assert "[avertissement]" not in out and "au-delà de la tolérance" not in out
    assert (
        f"[information] Volet hors mobilités (2021-2027) : enveloppe "
        f"{format_eur(Decimal('2700000000'))} (officiel), maquette initiale "
        f"{format_eur(Decimal('2700000000'))}, en vigueur aujourd'hui "
        f"{format_eur(Decimal('2700000000'))} ; parts de ses axes dans sa maquette — "
        "axe 1 : annoncée 19,00 %, calculée 19,00 % ; axe 2 : annoncée 57,30 %, calculée 57,30 % ; "
        "axe 3 : annoncée 8,80 %, calculée 8,80 % ; axe 4 : annoncée 14,80 %, calculée 14,80 % ; "
        "axe 6 : annoncée —, calculée 0,10 %"
    ) in out
    assert (
        f"[information] Volet mobilités (2023-2027, avenant n°1) : enveloppe "
        f"{format_eur(Decimal('2000000000'))} (illustratif), maquette de l'avenant n°1 "
        f"{format_eur(Decimal('2000000000'))}"
    ) in out
    assert "axe 5 : annoncée —, calculée 100,00 %" in out
    # the stated shares of the volet hors mobilités: 99,9 %, the 0,1 % within the tolerance
    assert "Volet hors mobilités (2021-2027) : les parts annoncées des axes 1, 2, 3, 4" in out
    assert not [f for f in run_checks(hdf) if f.level == WARNING]


def test_against_the_whole_contract_the_axes_1_to_4_would_be_off_by_more_than_the_tolerance(hdf):
    # What the volets fix: in force today the maquette is 4,7 Md€ with the mobility volet; axis
    # 2's 1 547,1 M€ would be 32,9 % of it for 57,3 % stated.
    axis2 = maquette_amounts(contract=hdf, group_by=("axis",), filters={"axis": 2})[(2,)]
    whole = maquette_amounts(contract=hdf, group_by=())[()]
    assert whole == Decimal("4700000000.00")
    assert abs(axis2 * 100 / whole - Decimal("57.3")) > hdf.share_tolerance


def test_a_contract_loaded_before_volets_migrates_to_one_volet_with_its_figures_unchanged(hdf):
    before_axes = maquette_amounts(contract=hdf, group_by=("axis",))
    before_cells = maquette_amounts(contract=hdf, group_by=("partner", "objective", "year"))
    # the contract as it was before the migration: no volet, axes without one
    Axis.objects.filter(contract=hdf).update(volet=None)
    Volet.objects.filter(contract=hdf).delete()

    _migration().contracts_one_volet(django_apps, None)

    (volet,) = Volet.objects.filter(contract=hdf)
    assert (volet.code, volet.title, volet.start_year, volet.end_year) == (
        "principal",
        "Volet principal",
        2021,
        2027,
    )
    assert (volet.envelope, volet.provenance) == (Decimal("2700000000.00"), "official")
    assert set(Axis.objects.filter(contract=hdf).values_list("volet", flat=True)) == {volet.pk}
    assert maquette_amounts(contract=hdf, group_by=("axis",)) == before_axes
    hdf.refresh_from_db()
    assert hdf.envelope == Decimal("2700000000.00")
    # running it again adds nothing
    _migration().contracts_one_volet(django_apps, None)
    assert Volet.objects.filter(contract=hdf).count() == 1

    # loading the file again splits it into the file's volets; the money does not move
    contract_load(path=HDF_FILE, actor=Actor.system())
    assert list(
        Volet.objects.filter(contract=hdf).order_by("position").values_list("code", flat=True)
    ) == ["hors-mobilites", "mobilites"]
    assert maquette_amounts(contract=hdf, group_by=("partner", "objective", "year")) == before_cells


def test_show_json_lists_the_volets_and_each_axis_says_its_volet(hdf, capsys):
    call_command("contract", "show", HDF_SLUG, "--format", "json")
    data = json.loads(capsys.readouterr().out)
    volets = data["volets"]
    assert [(v["code"], v["period"], v["envelope"]["amount"], v["axes"]) for v in volets] == [
        ("hors-mobilites", {"start": 2021, "end": 2027}, "2700000000.00", [1, 2, 3, 4, 6]),
        ("mobilites", {"start": 2023, "end": 2027}, "2000000000.00", [5]),
    ]
    assert data["volets"][1]["amendment"] == 1
    assert [a["volet"] for a in data["axes"]][3:5] == ["hors-mobilites", "mobilites"]


def test_the_contract_page_lists_the_volets_with_their_periods(hdf, client):
    response = client.get(reverse("web:contract", args=[HDF_SLUG]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="contract-volets"' in html
    assert "Volet hors mobilités" in html and "2021–2027" in html
    assert "Volet mobilités" in html and "2023–2027" in html and "(avenant n°1)" in html


def test_the_api_contract_endpoint_gives_the_volets(hdf, client):
    response = client.get(f"/api/v1/contracts/{HDF_SLUG}")
    assert response.status_code == 200, response.content
    volets = response.json()["volets"]
    assert [(v["code"], v["period"]["start"], v["amendment"]) for v in volets] == [
        ("hors-mobilites", 2021, None),
        ("mobilites", 2023, 1),
    ]
    assert volets[0]["envelope"] == {
        "amount": "2700000000.00",
        "provenance": "official",
        "source": volets[0]["envelope"]["source"],
    }


def test_show_text_lists_each_volet_with_its_period_envelope_and_axes(hdf, capsys):
    call_command("contract", "show", HDF_SLUG)
    out = capsys.readouterr().out
    assert (
        f"   Volet mobilités (2023-2027, avenant n°1) : enveloppe "
        f"{format_eur(Decimal('2000000000'), 0)}, axes 5"
    ) in out
    assert "   Volet hors mobilités (2021-2027) : enveloppe " in out and "axes 1, 2, 3, 4, 6" in out
