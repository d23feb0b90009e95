"""The API of the partners' decisions (issue 12): a line's decisions, and recording one with
the service's permission and rules."""

from __future__ import annotations

from typing import Any

import pytest

from cper.contracts.models import Contract, ProgrammingMode
from cper.finance.models import LineState
from cper.operations.models import OperationStatus, PartnerDecision
from tests.operations.factories import make_line, make_operation

pytestmark = pytest.mark.django_db


@pytest.fixture
def lines(hdf: Any) -> dict[str, Any]:
    Contract.objects.filter(pk=hdf.pk).update(programming_mode=ProgrammingMode.PARTNER_DECISION)
    op = make_operation(hdf, status=OperationStatus.PROGRAMMED, published=True)
    return {"dep-59": make_line(op, "dep-59", "80000.00"), "etat": make_line(op, "etat", "5000")}


def _url(hdf: Any, line: Any) -> str:
    return f"/api/v1/contracts/{hdf.slug}/financing-lines/{line.pk}/decisions"


DELIBERATION = {
    "kind": "deliberation_conseil",
    "body": "commission permanente du conseil départemental du Nord",
    "date": "2024-06-17",
    "reference": "DCP-2024-42",
    "amount": "80000.00",
}


def test_the_lines_partner_records_its_decision_and_reads_it_back(
    hdf: Any, lines: Any, nord_client: Any, anonymous_client: Any
) -> None:
    line = lines["dep-59"]
    created = nord_client.post(_url(hdf, line), DELIBERATION)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["amount"], body["partner"], body["in_force"]) == ("80000.00", "dep-59", True)
    assert LineState.objects.get(pk=line.pk).programmed == 8_000_000
    amended = nord_client.post(
        _url(hdf, line), {**DELIBERATION, "date": "2024-09-02", "amount": "60000.00"}
    )
    assert amended.status_code == 201
    listed = anonymous_client.get(_url(hdf, line)).json()  # a published operation
    assert listed["count"] == 2
    assert [(d["date"], d["in_force"]) for d in listed["results"]] == [
        ("2024-06-17", False),
        ("2024-09-02", True),
    ]
    assert LineState.objects.get(pk=line.pk).programmed == 6_000_000


def test_another_partners_line_is_refused_and_errors_name_their_field(
    hdf: Any, lines: Any, nord_client: Any
) -> None:
    refused = nord_client.post(_url(hdf, lines["etat"]), DELIBERATION)
    assert refused.status_code == 403
    wrong = nord_client.post(
        _url(hdf, lines["dep-59"]), {**DELIBERATION, "outcome": "refused", "amount": "10.00"}
    )
    assert wrong.status_code == 422
    assert wrong.json()["field"] == "amount"
    assert not PartnerDecision.objects.exists()


def test_an_unknown_line_is_not_found(hdf: Any, lines: Any, nord_client: Any) -> None:
    url = f"/api/v1/contracts/{hdf.slug}/financing-lines/999999/decisions"
    assert nord_client.get(url).status_code == 404
