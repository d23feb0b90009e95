"""Loading the `maquette:` and `amendments:` sections of a contract file."""

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.loader import ContractFileError
from cper.loading import contract_load
from cper.maquette.models import Allocation, Amendment
from cper.maquette.selectors import maquette_amounts
from tests.conftest import HDF_FILE


def _counts():
    return (
        Allocation.objects.count(),
        Amendment.objects.count(),
        AuditEntry.objects.count(),
        sorted(Allocation.objects.values_list("amount", flat=True))[:5],
    )


def _data():
    return yaml.safe_load(HDF_FILE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "contrat.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_file_loads_version_0_and_two_amendments(hdf):
    assert Allocation.objects.filter(contract=hdf, amendment__isnull=True).exists()
    assert list(hdf.amendments.values_list("number", "kind")) == [
        (1, "addition"),
        (2, "redeployment"),
    ]
    a1 = hdf.amendments.get(number=1)
    assert (a1.adopted_on.isoformat(), a1.signed_on.isoformat(), a1.effective_on.isoformat()) == (
        "2023-11-23",
        "2024-04-26",
        "2024-04-26",
    )
    state = Allocation.objects.filter(contract=hdf, partner__code="etat", amendment__isnull=True)
    assert set(state.values_list("budget_nature", flat=True)) == {"ae_cp"}
    assert state.filter(objective__code="2.1").first().programme.code == "P112"
    assert state.filter(objective__code="4.2").first().programme.code == "P150"
    region = Allocation.objects.filter(contract=hdf, partner__code="region")
    assert set(region.values_list("budget_nature", flat=True)) == {"ap_cp"}
    modes = dict(
        a1.changes.values_list("note").annotate(
            total=__import__("django.db.models", fromlist=["Sum"]).Sum("amount")
        )
    )
    assert modes["ferroviaire"] == Decimal("681000000.00") and modes["vélo"] == Decimal(
        "20000000.00"
    )


def test_loading_twice_writes_nothing(hdf_as_filed):
    before = _counts()
    _, report = contract_load(path=HDF_FILE, actor=Actor.cli())
    assert not report.changed
    assert _counts() == before


def test_a_changed_figure_updates_only_its_lines_and_audits_them(hdf_as_filed, tmp_path):
    hdf = hdf_as_filed
    data = _data()
    data["amendments"][1]["changes"][0]["amount"] = "-2000000.00"
    data["amendments"][1]["changes"][2]["amount"] = "2000000.00"
    _, report = contract_load(path=_write(tmp_path, data), actor=Actor.cli())
    assert report.updated == {"lignes d'avenants": 2}
    entry = AuditEntry.objects.filter(subject_type="maquette.allocation").latest("id")
    assert entry.changes["amount"] == {
        "avant": "3000000.00",
        "après": "2000000.00",
    } or entry.changes["amount"] == {"avant": "-3000000.00", "après": "-2000000.00"}
    got = maquette_amounts(
        contract=hdf, version=2, group_by=("year",), filters={"partner": "etat", "objective": "4.3"}
    )
    v1 = maquette_amounts(
        contract=hdf, version=1, group_by=("year",), filters={"partner": "etat", "objective": "4.3"}
    )
    assert got[(2025,)] == v1[(2025,)] - 2_000_000


def test_a_line_removed_from_the_file_is_removed_from_the_maquette(hdf_as_filed, tmp_path):
    hdf = hdf_as_filed
    data = _data()
    del data["amendments"][1]["changes"][6:8]
    del data["amendments"][1]["changes"][4:6]
    _, report = contract_load(path=_write(tmp_path, data), actor=Actor.cli())
    assert report.updated == {"lignes d'avenants supprimées": 4}
    assert hdf.amendments.get(number=2).changes.count() == 4


def _set(path, value):
    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _append_change(change):
    def mutate(d):
        d["amendments"][1]["changes"].append(change)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "key", "words"),
    [
        (
            _set(["maquette", "partners", 0, "partner"], "inconnu"),
            "maquette.partners[0].partner",
            "partenaire inconnu",
        ),
        (
            _set(["maquette", "partners", 0, "by_axis", 1], "206100001.00"),
            "maquette.partners[0].total.amount",
            "diffère",
        ),
        (
            _set(["maquette", "partners", 0, "by_axis", 9], "1.00"),
            "maquette.partners[0].by_axis.9",
            "axe inconnu",
        ),
        (_set(["maquette", "years", 2030], 5), "maquette.years.2030", "hors de la période"),
        (
            _set(["maquette", "partners", 0, "programme"], "P999"),
            "maquette.partners[0].programme",
            "programme LOLF inconnu",
        ),
        (_set(["maquette", "rounding"], 1.5), "maquette.rounding", "guillemets"),
        (
            _set(["amendments", 0, "effective_on"], "2029-01-01"),
            "amendments[0]",
            "hors de la période",
        ),
        (
            _set(["amendments", 1, "effective_on"], "2024-01-01"),
            "amendments[1]",
            "avant l'avenant n°1",
        ),
        (
            _set(["amendments", 0, "modes", 0, "objective"], "9.9"),
            "amendments[0].modes[0].objective",
            "objectif inconnu",
        ),
        (
            _set(["amendments", 0, "partners", 0, "by_mode", "ferroviaire"], "240000001.00"),
            "amendments[0].partners[0].total.amount",
            "diffère",
        ),
        (_set(["amendments", 0, "kind"], "cadeau"), "amendments[0].kind", "Input should be"),
        (
            _append_change(
                {"partner": "etat", "objective": "4.3", "year": 2027, "amount": "-90000000.00"}
            ),
            "amendments[1].changes[8]",
            "deviendrait négative",
        ),
        (
            _append_change({"partner": "etat", "objective": "4.1", "year": 2025, "amount": "1.00"}),
            "amendments[1].changes[8]",
            "non équilibré",
        ),
        (
            _append_change({"partner": "etat", "objective": "4.1", "year": 2031, "amount": "1.00"}),
            "amendments[1].changes[8]",
            "hors de la période",
        ),
        (
            _append_change({"partner": "etat", "objective": "8.1", "year": 2025, "amount": "1.00"}),
            "amendments[1].changes[8]",
            "objectif inconnu",
        ),
        (
            _append_change(
                {
                    "partner": "etat",
                    "objective": "4.3",
                    "year": 2025,
                    "amount": "1.00",
                    "programme": "P203",
                }
            ),
            "amendments[1].changes[8]",
            "déjà défini",
        ),
    ],
)
def test_bad_sections_are_refused_naming_key_and_line_and_nothing_is_written(
    hdf, tmp_path, mutate, key, words
):
    data = _data()
    mutate(data)
    path = _write(tmp_path, data)
    before = _counts()
    with pytest.raises(ContractFileError) as excinfo:
        contract_load(path=path, actor=Actor.cli())
    errors = excinfo.value.errors
    assert any(e.field == key and e.line and words in e.message for e in errors), [
        str(e) for e in errors
    ]
    assert _counts() == before
