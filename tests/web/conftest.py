"""A small execution on the Hauts-de-France contract for the page tests: operations in the
Nord, the Pas-de-Calais and the Aisne, on several axes and partners, one with the
employment/training marker, with commitments and payments at known dates."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.finance import factories as F

MARKER = "emploi-formation-orientation"


@pytest.fixture
def execution(hdf):  # type: ignore[no-untyped-def]
    lille = F.operation(hdf, objective="2.1", communes=("59350",), code="W-001")
    arras = F.operation(hdf, objective="3.2", communes=("62041",), code="W-002", markers=(MARKER,))
    laon = F.operation(
        hdf, objective="1.1", communes=("02408",), code="W-003", programmed_on=dt.date(2023, 1, 10)
    )
    a = F.line(lille, "etat", "3000000.00")
    b = F.line(lille, "dep-59", "1000000.00")
    c = F.line(arras, "region", "500000.00")
    F.line(laon, "etat", "800000.00")  # programmed, never committed: an alert
    F.record(a, "commitment", dt.date(2022, 6, 1), "2000000.00")
    F.record(a, "payment", dt.date(2023, 2, 1), "500000.00")
    F.record(b, "commitment", dt.date(2024, 3, 1), "1000000.00")
    F.record(c, "commitment", dt.date(2022, 9, 1), "400000.00")
    F.record(c, "payment", dt.date(2022, 12, 1), "100000.00")
    return {"lille": lille, "arras": arras, "laon": laon}


@pytest.fixture
def staff_client(client, hdf):  # type: ignore[no-untyped-def]
    """A client logged in as an observer (sees unpublished operations)."""
    from cper.accounts.models import Role, User

    client.force_login(User.objects.create_user("web-observer", role=Role.OBSERVER))
    return client
