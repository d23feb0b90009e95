"""A State line's LOLF programme, BOP and activity through the line form (issue 12): saved
with the line, shown on the operation's page; a contractualised State line without programme is
saved with a warning."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cper.contracts.models import BudgetProgramme
from cper.operations.models import FinancingLine
from tests.operations.factories import make_operation

pytestmark = pytest.mark.django_db


def _add(client, hdf, op, **extra):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("operations:line_add", kwargs={"slug": hdf.slug, "pk": op.pk}),
        {
            "financer_kind": "partner",
            "partner": hdf.partners.get(code="etat").pk,
            "objective": op.objective_id,
            "amount": "1 000",
            "contractualised": "on",
            "budget_nature": "",
            **extra,
        },
        follow=True,
    )


def test_a_state_line_keeps_its_programme_bop_and_activity(client, hdf, users):  # type: ignore[no-untyped-def]
    op = make_operation(hdf)
    client.force_login(users["admin"])
    page = _add(
        client, hdf, op, programme=BudgetProgramme.objects.get(code="P112").pk,
        bop=" 0112-HDF ", activity="011202020101",
    )  # fmt: skip
    line = FinancingLine.objects.get()
    assert (line.programme.code, line.bop, line.activity) == ("P112", "0112-HDF", "011202020101")
    html = page.content.decode()
    assert "P112 — BOP 0112-HDF — activité 011202020101" in html
    assert "Avertissement" not in html


def test_a_state_line_without_programme_is_saved_with_a_warning(client, hdf, users):  # type: ignore[no-untyped-def]
    op = make_operation(hdf)
    client.force_login(users["admin"])
    page = _add(client, hdf, op)
    assert FinancingLine.objects.get().programme is None
    assert "indique son programme LOLF" in page.content.decode()
