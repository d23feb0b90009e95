"""The movements API accepts the AP/CP chain's kinds: a Nord manager posts an affectation then
a désaffectation on its line; a désaffectation of what is committed is refused (422)."""

from __future__ import annotations

import pytest

from cper.finance.models import LineState, Movement
from tests.api.test_finance import BASE, ledger  # noqa: F401  (fixture)


def _movement(financing_line, kind: str, amount: str, reference: str) -> dict:  # type: ignore[no-untyped-def]
    return {
        "financing_line": financing_line.pk,
        "kind": kind,
        "date": "2023-01-15",
        "amount": amount,
        "reference": reference,
    }


@pytest.mark.django_db
def test_a_nord_manager_posts_an_affectation_then_releases_what_is_free(ledger, nord_client):  # noqa: F811
    nord = ledger["nord"]  # 200 000 affected and committed on a 200 000 line
    refused = nord_client.post(
        f"{BASE}/movements", _movement(nord, "desaffectation", "1.00", "DCP-0")
    )
    assert refused.status_code == 422, refused.json()
    assert "on ne désaffecte pas ce qui est engagé" in str(refused.json())
    released = nord_client.post(
        f"{BASE}/movements", _movement(nord, "decommitment", "50000.00", "DEJ-1")
    )
    assert released.status_code == 201, released.json()
    posted = nord_client.post(
        f"{BASE}/movements", _movement(nord, "desaffectation", "50000.00", "DCP-1")
    )
    assert posted.status_code == 201, posted.json()
    assert posted.json()["kind"] == "desaffectation"
    assert Movement.objects.get(reference="DCP-1").kind == "desaffectation"
    assert LineState.objects.get(pk=nord.pk).affected == 15_000_000
    listed = nord_client.get(f"{BASE}/movements", {"kind": "affectation"}).json()
    assert [m["reference"] for m in listed["results"]] == ["AFF-1"]
