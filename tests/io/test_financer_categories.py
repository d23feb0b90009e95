"""The new financer kinds (issue 12) read back from what the exports write: « Opérateur de
l'État : ADEME », « Banque des Territoires », an operator's name alone, and the long layout's
kind column."""

from __future__ import annotations

import pytest

from cper.contracts.models import Partner
from cper.io import vocabulary as voc

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(hdf):  # type: ignore[no-untyped-def]
    return voc.FinancerDirectory(list(Partner.objects.filter(contract=hdf)))


def test_exported_labels_resolve_back_to_the_same_financer(directory):
    for financer in (
        voc.Financer("state_operator", label="ADEME"),
        voc.Financer("state_operator", label="Agence de l'eau Artois-Picardie"),
        voc.Financer("banque_des_territoires", label="Banque des Territoires"),
    ):
        written = directory.label(financer)
        assert directory.resolve(written) == financer, written


def test_an_operator_named_alone_or_by_code_is_a_state_operator(directory):
    assert directory.resolve("ADEME") == voc.Financer("state_operator", label="ADEME")
    assert directory.resolve("vnf") == voc.Financer("state_operator", label="VNF")
    # Written as another public body, it stays one (files written before issue 12).
    assert directory.resolve("Autre financement public : ADEME") == voc.Financer(
        "other_public", label="ADEME"
    )


def test_kind_words_of_the_long_layout(directory):
    assert voc.FINANCER_KIND_WORDS["operateur de l etat"] == "state_operator"
    assert voc.FINANCER_KIND_WORDS["banque des territoires"] == "banque_des_territoires"
    assert directory.resolve("ademe", "state_operator") == voc.Financer(
        "state_operator", label="ADEME"
    )
