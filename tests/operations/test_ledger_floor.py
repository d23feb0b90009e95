"""A financing line never falls below what is committed on it: lowering its amount, cancelling
it or abandoning its operation is refused with the amount to decommit first (issue 15, item 4),
through the services, the pages and the API; `cper contract check` stays clean."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from cper.audit.services import Actor
from cper.finance.rules import ledger_breaches
from cper.operations import lifecycle, rules, services
from cper.operations.models import FinancingLine, LineStatus, OperationStatus
from tests.finance import factories as f

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system()
DAY = dt.date(2023, 6, 1)


@pytest.fixture
def committed_line(hdf):
    """A programmed line of 200 000 € with 150 000 € committed."""
    op = f.operation(hdf)
    line = f.line(op, "etat", "200000.00")
    f.record(line, "commitment", DAY, "150000.00")
    return line


def _fresh(line: FinancingLine) -> FinancingLine:
    return FinancingLine.objects.select_related("operation").get(pk=line.pk)


def test_rule_names_the_amount_to_decommit():
    found = rules.committed_floor_findings(
        amount=Decimal("100000.00"), committed=Decimal("150000.00")
    )
    assert [x.message for x in found] == [
        "Le montant (100\u202f000,00\u00a0€) est inférieur à l'engagé (150\u202f000,00\u00a0€) : "
        "désengager d'abord 50\u202f000,00\u00a0€."
    ]
    assert rules.committed_floor_findings(amount=Decimal("150"), committed=Decimal("150")) == []
    # Within the contract's tolerance: allowed, as the ledger's rules allow it.
    assert (
        rules.committed_floor_findings(
            amount=Decimal("149"), committed=Decimal("150"), tolerance=Decimal("1")
        )
        == []
    )


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch == ",")


def test_lowering_below_committed_is_refused_with_what_to_decommit(hdf, committed_line):
    with pytest.raises(ValidationError) as exc:
        services.financing_line_update(
            actor=SYSTEM, line=_fresh(committed_line), amount=Decimal("100000.00")
        )
    (message,) = exc.value.message_dict["amount"]
    assert "inférieur à l'engagé" in message and "désengager d'abord" in message
    assert _digits(message).endswith("50000,00")  # the amount to decommit, last
    assert _fresh(committed_line).amount == Decimal("200000.00")
    # Down to the committed amount is fine; so is raising it.
    services.financing_line_update(
        actor=SYSTEM, line=_fresh(committed_line), amount=Decimal("150000.00")
    )
    services.financing_line_update(
        actor=SYSTEM, line=_fresh(committed_line), amount=Decimal("180000.00")
    )
    assert ledger_breaches(hdf) == []


def test_after_decommitting_the_line_can_be_lowered(hdf, committed_line):
    commitment = committed_line.movements.get()
    f.record(committed_line, "decommitment", DAY, "50000.00", cancels=commitment)
    services.financing_line_update(
        actor=SYSTEM, line=_fresh(committed_line), amount=Decimal("100000.00")
    )
    assert ledger_breaches(hdf) == []


def test_a_past_peak_of_commitments_is_a_floor_too(hdf, committed_line):
    """Decommitted later: the ledger still holds 150 000 € committed on the first day, which a
    lower amount would contradict (the check reads every date against the amount)."""
    commitment = committed_line.movements.get()
    f.record(committed_line, "decommitment", dt.date(2023, 7, 1), "50000.00", cancels=commitment)
    with pytest.raises(ValidationError) as exc:
        services.financing_line_update(
            actor=SYSTEM, line=_fresh(committed_line), amount=Decimal("120000.00")
        )
    assert "a atteint" in exc.value.message_dict["amount"][0]
    assert ledger_breaches(hdf) == []


def test_cancelling_a_committed_line_is_refused(hdf, committed_line):
    with pytest.raises(ValidationError) as exc:
        services.financing_line_cancel(actor=SYSTEM, line=_fresh(committed_line), reason="doublon")
    (message,) = exc.value.message_dict["status"]
    assert "désengager d'abord" in message and "avant de l'annuler" in message
    assert _fresh(committed_line).status == LineStatus.ACTIVE
    assert ledger_breaches(hdf) == []


def test_a_line_without_movements_is_cancelled_and_lowered_freely(hdf):
    line = f.line(f.operation(hdf), "etat", "200000.00")
    services.financing_line_update(actor=SYSTEM, line=_fresh(line), amount=Decimal("1.00"))
    services.financing_line_cancel(actor=SYSTEM, line=_fresh(line), reason="doublon")
    assert _fresh(line).status == LineStatus.CANCELLED


def test_abandoning_an_operation_with_commitments_is_refused(hdf, committed_line):
    op = committed_line.operation
    with pytest.raises(ValidationError) as exc:
        lifecycle.operation_transition(
            actor=SYSTEM, operation=op, to_status=OperationStatus.ABANDONED, reason="arrêt"
        )
    (message,) = exc.value.message_dict["status"]
    assert "désengager d'abord" in message and "abandonnée" in message
    op.refresh_from_db()
    assert op.status == OperationStatus.PROGRAMMED
    assert ledger_breaches(hdf) == []


def test_pages_show_the_refusal(client, hdf, users, committed_line):
    client.force_login(users["admin"])
    op = committed_line.operation
    kwargs = {"slug": hdf.slug, "pk": op.pk, "line_pk": committed_line.pk}
    response = client.post(
        reverse("operations:line_cancel", kwargs=kwargs), {"cancel_reason": "doublon"}
    )
    assert response.status_code == 400  # the form again, with the refusal
    assert "désengager d&#x27;abord" in response.content.decode()
    assert _fresh(committed_line).status == LineStatus.ACTIVE
    data = {
        k: ("" if v is None else v)
        for k, v in {
            "objective": committed_line.objective_id,
            "amount": "100000,00",
            "contractualised": "on",
            "budget_nature": committed_line.budget_nature,
            "year": committed_line.year,
            "external_ref": committed_line.external_ref,
            "financer_label": committed_line.financer_label,
        }.items()
    }
    response = client.post(reverse("operations:line_edit", kwargs=kwargs), data)
    assert response.status_code == 400
    assert "inférieur à l&#x27;engagé" in response.content.decode()
    assert _fresh(committed_line).amount == Decimal("200000.00")
