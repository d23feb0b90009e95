import re
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.contracts.loader import ContractFileError
from cper.contracts.models import Axis, Contract, Objective, Partner, PartnerStatedAmount
from cper.finance import summaries
from cper.loading import contract_load
from tests.conftest import HDF_FILE
from tests.operations.factories import make_line, make_operation


def _counts():
    return (
        Contract.objects.count(),
        Axis.objects.count(),
        Objective.objects.count(),
        Partner.objects.count(),
        PartnerStatedAmount.objects.count(),
        AuditEntry.objects.count(),
    )


def test_hauts_de_france_has_six_axes_and_the_seed_objectives(hdf):
    assert list(hdf.axes.values_list("number", flat=True)) == [1, 2, 3, 4, 5, 6]
    assert hdf.objectives.count() == 21
    merged = hdf.objectives.get(code="5.2")
    assert merged.title == (
        "Favoriser les mobilités décarbonées et l’intégration des enjeux de la transition "
        "écologique dans les infrastructures existantes"
    )
    assert hdf.envelope == 2_700_000_000
    assert sorted(hdf.partners.values_list("code", flat=True)) == sorted(
        [
            "etat",
            "region",
            "dep-02",
            "dep-59",
            "dep-60",
            "dep-62",
            "dep-80",
            "mel",
            "amiens-metropole",
        ]
    )
    mel = hdf.partners.get(code="mel")
    assert mel.siren == "200093201"
    by_axis = {s.axis.number if s.axis else None: s.amount for s in mel.stated_amounts.all()}
    assert by_axis == {None: 194_600_000, 1: 31_800_000, 2: 142_800_000}


def test_loading_twice_changes_nothing(hdf_as_filed):
    before = _counts()
    _, report = contract_load(path=HDF_FILE, actor=Actor.cli())
    assert not report.changed
    assert _counts() == before


def test_a_corrected_file_updates_only_what_changed_and_audits_it(hdf_as_filed, tmp_path):
    data = yaml.safe_load(HDF_FILE.read_text(encoding="utf-8"))
    data["axes"][0]["objectives"][0]["title"] = "Titre corrigé"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _, report = contract_load(path=path, actor=Actor.cli())
    assert report.updated == {"objectifs": 1}
    entry = AuditEntry.objects.filter(subject_type="contracts.objective").latest("id")
    assert entry.via == "cli"
    assert entry.changes["title"]["après"] == "Titre corrigé"


def _broken(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(HDF_FILE.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _set_priority_axis(d):
    d["priorities"][0]["axes"] = [9]


def _dup_objective(d):
    d["axes"][1]["objectives"][1]["code"] = "2.1"


def _negative(d):
    d["partners"][0]["stated_total"]["amount"] = "-5"


def _text_amount(d):
    d["envelope"]["amount"] = "beaucoup"


def _share_above(d):
    d["axes"][0]["share"]["value"] = "120"


@pytest.mark.parametrize(
    ("mutate", "key", "words"),
    [
        (_set_priority_axis, "priorities[0].axes[0]", "axe inconnu"),
        (_dup_objective, "axes[1].objectives[1].code", "en double"),
        (_negative, "partners[0].stated_total.amount", "greater than or equal"),
        (_text_amount, "envelope.amount", "decimal"),
        (_share_above, "axes[0].share.value", "less than or equal"),
    ],
)
def test_a_broken_file_is_refused_naming_key_and_line_and_nothing_is_written(
    hdf, tmp_path, mutate, key, words
):
    path = _broken(tmp_path, mutate)
    before = _counts()
    with pytest.raises(ContractFileError) as excinfo:
        contract_load(path=path, actor=Actor.cli())
    errors = excinfo.value.errors
    assert any(e.field == key and e.line and words in e.message for e in errors), errors
    assert _counts() == before


def test_the_line_named_is_the_line_of_the_faulty_key(hdf, tmp_path):
    path = tmp_path / "c.yaml"
    text = HDF_FILE.read_text(encoding="utf-8").replace(
        'envelope:\n  amount: "2700000000.00"', 'envelope:\n  amount: "deux milliards"'
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractFileError) as excinfo:
        contract_load(path=path, actor=Actor.cli())
    (error,) = excinfo.value.errors
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "deux milliards" in t)
    assert (error.field, error.line) == ("envelope.amount", line)


def test_a_float_amount_is_refused_because_it_would_lose_cents(hdf, tmp_path):
    path = _broken(tmp_path, lambda d: d["envelope"].__setitem__("amount", 2.7e9))
    with pytest.raises(ContractFileError, match="guillemets"):
        contract_load(path=path, actor=Actor.cli())


def test_invalid_yaml_is_refused_with_its_line(db, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("slug: x\naxes: [1, 2\n", encoding="utf-8")
    with pytest.raises(ContractFileError) as excinfo:
        contract_load(path=path, actor=Actor.cli())
    assert excinfo.value.errors[0].line is not None


def test_every_row_the_loader_writes_is_audited_with_a_known_action(hdf, tmp_path):
    data = yaml.safe_load(HDF_FILE.read_text(encoding="utf-8"))
    data["slug"] = "copie"
    data["maquette"] = None
    data["amendments"] = None
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    contract, report = contract_load(path=path, actor=Actor.cli())
    entries = AuditEntry.objects.filter(contract_id=contract.pk)
    created = entries.filter(action=AuditAction.CONTRACT_LOAD_CREATED)
    assert {"contracts.contract", "contracts.axis", "contracts.objective"} <= {
        e.subject_type for e in created
    }
    assert {"contracts.partner", "contracts.contractterritory"} <= {e.subject_type for e in created}
    # The rows are new; what is updated is the links set on them (a priority's axes…).
    updated = entries.filter(action=AuditAction.CONTRACT_LOAD_UPDATED)
    assert {key for e in updated for key in e.changes} <= {"axes", "objectives", "territories"}
    assert entries.count() == created.count() + updated.count()
    assert created.count() == sum(report.created.values())


def test_the_admin_of_contracts_is_read_only(client, hdf, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:contracts_contract_changelist")).status_code == 200
    assert client.get(reverse("admin:contracts_partner_add")).status_code == 403
    axis = hdf.axes.get(number=1)
    client.post(reverse("admin:contracts_axis_change", args=[axis.pk]), {"title": "falsifié"})
    delete = reverse("admin:contracts_contract_delete", args=[hdf.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    axis.refresh_from_db()
    assert axis.title != "falsifié"


def test_the_contracts_app_does_not_import_the_apps_above_it():
    root = Path(__file__).resolve().parents[2] / "cper" / "contracts"
    above = re.compile(
        r"^\s*(from|import) cper\.(maquette|operations|finance|loading|io)\b|import_module",
        re.MULTILINE,
    )
    for path in root.rglob("*.py"):
        if "management" in path.parts:
            continue  # the `cper contract` command is a face: it runs the whole load
        assert not above.search(path.read_text(encoding="utf-8")), path


def test_a_territory_changed_by_a_reload_keeps_the_execution_summaries_exact(hdf, tmp_path):
    op = make_operation(hdf, communes=("59350",), status="programmed")
    make_line(op, "etat", "1000")
    assert summaries.verify(hdf) == []
    data = yaml.safe_load(HDF_FILE.read_text(encoding="utf-8"))
    qpv = next(t for t in data["territories"] if t["code"] == "qpv")
    qpv["communes"] = [c for c in qpv["communes"] if c != "59350"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _, report = contract_load(path=path, actor=Actor.cli())
    assert report.updated["communes des territoires"] == 1
    assert summaries.verify(hdf) == []


def test_the_reference_contract_programmes_each_line_by_its_partners_decision(hdf_as_filed):
    # CPER practice (issue 12): the committee gives an avis, each co-financer's own decision
    # programmes its line; the setting is read from the file, not the model's default.
    assert hdf_as_filed.programming_mode == "partner_decision"
    assert hdf_as_filed._meta.get_field("programming_mode").db_default == "committee"
