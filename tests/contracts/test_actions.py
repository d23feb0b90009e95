"""The third level of a contract's structure (issue 12, item 6): actions under an objective,
numbered as the contract numbers them, loaded from the contract file and shown on the
objective's page."""

from __future__ import annotations

import pytest
import yaml

from cper.audit.services import Actor
from cper.contracts.loader import ContractFileError
from cper.contracts.models import Action
from cper.loading import contract_load
from tests.conftest import HDF_FILE, HDF_SLUG

pytestmark = pytest.mark.django_db


def test_hauts_de_france_actions_are_loaded_under_their_objective_and_marked_illustrative(hdf):
    actions = {
        a.code: (a.objective.code, a.kind, a.provenance, a.position)
        for a in Action.objects.filter(contract=hdf).select_related("objective")
    }
    assert actions == {
        "1.1.1": ("1.1", "enveloppe", "illustrative", 1),
        "1.1.2": ("1.1", "appel_a_projets", "illustrative", 2),
        "2.6.1": ("2.6", "enveloppe", "illustrative", 1),
        "4.2.1": ("4.2", "operation_nommee", "illustrative", 1),
        "4.2.2": ("4.2", "enveloppe", "illustrative", 2),
    }


def test_loading_twice_keeps_the_actions(hdf):
    before = list(Action.objects.order_by("code").values_list("pk", "code", "title"))
    contract_load(path=HDF_FILE, actor=Actor.cli())
    assert list(Action.objects.order_by("code").values_list("pk", "code", "title")) == before


def test_an_action_numbered_under_another_objective_is_refused(hdf, tmp_path):
    data = yaml.safe_load(HDF_FILE.read_text(encoding="utf-8"))
    objective = data["axes"][0]["objectives"][0]
    objective["actions"][0]["code"] = "2.1.1"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContractFileError) as excinfo:
        contract_load(path=path, actor=Actor.cli())
    assert any("n'appartient pas à l'objectif 1.1" in e.message for e in excinfo.value.errors)


def test_objective_page_lists_its_actions(client, hdf):
    html = client.get(f"/contrats/{HDF_SLUG}/objectifs/4.2/").content.decode()
    listed = html.split('data-testid="actions"')[1].split("</ul>")[0]
    assert "<strong>4.2.1</strong>" in listed and "<strong>4.2.2</strong>" in listed
    assert "opération inscrite au contrat" in listed
    assert "illustratif" in listed
    other = client.get(f"/contrats/{HDF_SLUG}/objectifs/2.2/").content.decode()
    assert 'data-testid="actions"' not in other  # no third level there
