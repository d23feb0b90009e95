"""The SCDL file takes `dateConvention` and `referenceDecision` from the partner's own decision
in force on its line (issue 12), and keeps the committee's date where there is none."""

from __future__ import annotations

import datetime as dt

import pytest

from cper.io import scdl
from cper.io.cli import OPERATOR
from cper.io.imports import import_operations
from cper.operations.models import FinancingLine
from cper.operations.services import partner_decision_record
from tests.io.conftest import SIRET_A, csv_file
from tests.io.test_open_data import TEST_SIRETS

pytestmark = pytest.mark.django_db


@pytest.fixture
def sirets(settings):  # type: ignore[no-untyped-def]
    settings.CPER_SCDL_SIRET = TEST_SIRETS
    return TEST_SIRETS


@pytest.fixture
def register(hdf, admin_actor):  # type: ignore[no-untyped-def]
    """One operation given an avis favorable on 15 March 2023, with a State and a Region line."""
    rows = [
        [
            "N° d'opération",
            "Intitulé de l'opération",
            "Maître d'ouvrage",
            "N° SIRET",
            "Code INSEE",
            "Objectif",
            "Statut",
            "Date du comité de programmation",
            "Coût total HT",
            "Part État",
            "Part Région",
        ],
        [
            "OD-1",
            "Gare de Lille",
            "Ville de Lille",
            SIRET_A,
            "59350",
            "2.2",
            "programmée",
            "15/03/2023",
            "1000000",
            "400000",
            "100000",
        ],
    ]
    report = import_operations(
        actor=admin_actor, contract=hdf, source=csv_file(rows), dry_run=False
    )
    assert report.ok, [str(r) for r in report.rejections]
    return hdf


def _line(contract, op_code: str, partner_code: str) -> FinancingLine:  # type: ignore[no-untyped-def]
    return FinancingLine.objects.get(
        operation__contract=contract, operation__code=op_code, partner__code=partner_code
    )


def test_the_scdl_file_carries_the_partners_decision_date_and_reference(
    register,
    sirets,
    admin_actor,
):
    region = _line(register, "OD-1", "region")
    partner_decision_record(
        actor=admin_actor,
        line=region,
        kind="deliberation_cp",
        body="commission permanente du conseil régional",
        date=dt.date(2023, 4, 21),
        reference="CP 2023-04-21 n° 20230877",
        amount="100000.00",
    )
    # An amending deliberation: the latest in date is in force.
    partner_decision_record(
        actor=admin_actor,
        line=region,
        kind="deliberation_cp",
        date=dt.date(2023, 10, 9),
        reference="CP 2023-10-09 n° 20231544",
        amount="100000.00",
    )
    rows = {
        (r.values["idAttribuant"], r.values["objet"]): r.values
        for r in scdl.grants(register, user=OPERATOR)
    }
    decided = rows[(sirets["region"], "Gare de Lille")]
    assert decided["dateConvention"] == "2023-10-09"
    assert decided["referenceDecision"] == "CP 2023-10-09 n° 20231544"
    # The State has recorded no decision on its line: the committee's date and the code.
    state = rows[(sirets["etat"], "Gare de Lille")]
    assert (state["dateConvention"], state["referenceDecision"]) == ("2023-03-15", "OD-1")
    data = scdl.render_csv(scdl.grants(register, user=OPERATOR)).decode("utf-8")
    assert "2023-10-09,CP 2023-10-09 n° 20231544" in data
