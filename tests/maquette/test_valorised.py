"""Valorised credits (issue 12, item 4): the contract file's `valorised:` section gives the
signatories' credits outside the contracted envelope, loaded apart from the maquette, shown on
the maquette page as « crédits valorisés », never in the maquette's or the contract's totals."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from django.urls import reverse

from cper.audit.services import Actor
from cper.contracts.loader import ContractFileError
from cper.loading import contract_load
from cper.maquette.models import ValorisedCredit
from cper.maquette.selectors import maquette_amounts, valorised_credits
from tests.conftest import HDF_FILE

pytestmark = pytest.mark.django_db


def test_hauts_de_france_valorised_credits_are_loaded_illustrative(hdf):
    rows = {
        (v.partner.code, v.objective.code, v.year): (v.amount, v.provenance)
        for v in ValorisedCredit.objects.filter(contract=hdf).select_related("partner", "objective")
    }
    assert rows == {
        ("region", "2.5", None): (Decimal("20000000.00"), "illustrative"),
        ("mel", "2.1", None): (Decimal("8000000.00"), "illustrative"),
        ("dep-59", "2.3", 2024): (Decimal("5000000.00"), "illustrative"),
    }
    assert valorised_credits(contract=hdf).total == Decimal("33000000.00")


def test_valorised_credits_never_enter_the_maquette(hdf, tmp_path):
    """The same file without its `valorised:` section gives the same maquette to the cent."""
    with_valorised = maquette_amounts(contract=hdf, group_by=("partner",))
    data = yaml.safe_load(HDF_FILE.read_text(encoding="utf-8"))
    data["slug"] = "sans-valorise"
    data.pop("valorised")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    other, _ = contract_load(path=path, actor=Actor.cli())
    assert maquette_amounts(contract=other, group_by=("partner",)) == with_valorised


def test_loading_twice_changes_nothing(hdf):
    before = list(ValorisedCredit.objects.values_list("pk", "amount"))
    _, report = contract_load(path=HDF_FILE, actor=Actor.cli())
    assert "crédits valorisés" not in report.created and "crédits valorisés" not in report.updated
    assert list(ValorisedCredit.objects.values_list("pk", "amount")) == before


def test_an_unknown_partner_is_refused_naming_key_and_line(hdf, tmp_path):
    text = HDF_FILE.read_text(encoding="utf-8").replace(
        '- {partner: mel, objective: "2.1"', '- {partner: lune, objective: "2.1"'
    )
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractFileError) as excinfo:
        contract_load(path=path, actor=Actor.cli())
    (error,) = excinfo.value.errors
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "partner: lune" in t)
    assert (error.field, error.line) == ("valorised[1].partner", line)
    assert "partenaire inconnu « lune »" in error.message


def test_maquette_page_shows_valorised_credits_apart(client, hdf):
    html = client.get(reverse("maquette:index", args=[hdf.slug])).content.decode()
    html = html.replace("\u202f", " ").replace("\xa0", " ")
    assert "Crédits valorisés (hors maquette)" in html
    assert 'data-testid="valorised-total">33 000 000 €' in html
