import json

from django.core.management import call_command

from cper.checks import BLOCKING, WARNING
from cper.contracts.rules import shares_findings
from tests.conftest import HDF_FILE, HDF_SLUG


def test_show_json_prints_axes_objectives_envelope_and_partners(hdf, capsys):
    call_command("contract", "show", HDF_SLUG, "--format", "json")
    data = json.loads(capsys.readouterr().out)
    assert data["envelope"]["amount"] == "2700000000.00"
    assert [a["number"] for a in data["axes"]] == [1, 2, 3, 4, 5, 6]
    assert [a["stated_share"] for a in data["axes"]] == ["19", "57.3", "8.8", "14.8", None, None]
    axis3 = data["axes"][2]
    assert axis3["objectives"][2] == {
        "code": "3.3",
        "title": "Développer l’information des jeunes pour favoriser leur orientation, "
        "l’accès aux droits et à l’apprentissage",
    }
    etat = next(p for p in data["partners"] if p["code"] == "etat")
    assert etat["stated_amounts"][0]["amount"] == "994260000.00"
    assert etat["stated_amounts"][0]["provenance"] == "official"
    nord = next(p for p in data["partners"] if p["code"] == "dep-59")
    assert nord["siren"] == "225900018" and nord["insee_code"] == "59"


def test_load_twice_says_nothing_changed(hdf_as_filed, capsys):
    call_command("contract", "load", str(HDF_FILE))
    assert "rien n'a changé" in capsys.readouterr().out


def test_check_explains_the_missing_tenth_of_a_percent(hdf, capsys):
    call_command("contract", "check", HDF_SLUG)  # no blocking finding: no SystemExit
    out = capsys.readouterr().out
    assert "99,9 %" in out and "il reste 0,1 %" in out
    assert "axe 5" in out and "avenant mobilités" in out


def test_shares_above_100_are_blocking_and_below_explained():
    from decimal import Decimal

    over = shares_findings(shares=[(1, Decimal("60"), ""), (2, Decimal("50"), "")])
    assert over[0].level == BLOCKING and over[0].level.label == "bloquant"
    under = shares_findings(shares=[(1, Decimal("60"), ""), (2, None, "par avenant")])
    assert under[0].level == WARNING and "40,0 %" in under[0].message
    assert "axe 2 : par avenant" in under[0].message


def test_check_shows_levels_in_french_in_text_and_json(hdf, capsys):
    call_command("contract", "check", HDF_SLUG)
    text = capsys.readouterr().out
    # issue 12: the 0,1 % left by the sources is within the contract's tolerance (0,5 point).
    assert "[information] Volet hors mobilités (2021-2027) : les parts annoncées des axes" in text
    assert "[information] " in text and "dont 0 bloquant(s)." in text
    call_command("contract", "check", HDF_SLUG, "--format", "json")
    findings = json.loads(capsys.readouterr().out)
    assert {tuple(sorted(f)) for f in findings} == {("code", "message", "niveau")}
    assert {f["niveau"] for f in findings} <= {"bloquant", "avertissement", "information"}
    assert any(
        f["niveau"] == "information" and f["code"] == "parts-inferieures-a-100" for f in findings
    )
