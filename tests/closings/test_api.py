"""The closings API: the list of a contract's closings and one closing's frozen figures, for the
roles that read unpublished operations; the figures are the closing's, not today's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.audit.services import Actor
from cper.closings.services import closing_create
from tests.api.conftest import ApiClient, client_for, user_with_role
from tests.finance import factories as FF

D = dt.date


@pytest.mark.django_db
def test_closings_and_their_frozen_figures_through_the_api(hdf) -> None:
    a = FF.operation(hdf, code="A", programmed_on=D(2025, 3, 15))
    etat = FF.line(a, "etat", "100000.00")
    FF.record(etat, "commitment", D(2025, 6, 1), "40000.00")
    closing = closing_create(actor=Actor.system(), contract=hdf, at=D(2025, 12, 31))
    FF.record(etat, "commitment", D(2025, 7, 1), "1000.00")  # after the closing: not in it
    base = f"/api/v1/contracts/{hdf.slug}/closings"
    observer = client_for(user_with_role("observer"))

    listing = observer.get(base)
    assert listing.status_code == 200
    body = listing.json()
    assert body["count"] == 1
    assert body["results"][0]["at"] == "2025-12-31"
    assert body["results"][0]["committed"] == "40000.00"
    assert body["results"][0]["digest"] == closing.digest

    detail = observer.get(f"{base}/2025-12-31", {"grouping": ["partner", "axis"]}).json()
    assert detail["digest_ok"] is True
    assert [g["name"] for g in detail["groupings"]] == ["partner", "axis"]
    etat_row = next(r for r in detail["groupings"][0]["rows"] if r["key"] == {"partner": "etat"})
    assert Decimal(etat_row["committed"]) == Decimal("40000.00")

    assert observer.get(f"{base}/2024-12-31").status_code == 404
    assert observer.get(f"{base}/2025-12-31", {"grouping": ["inconnu"]}).status_code == 400
    public = client_for(user_with_role("public"))
    assert public.get(base).status_code == 403
    assert ApiClient().get(base).status_code in {401, 403}
