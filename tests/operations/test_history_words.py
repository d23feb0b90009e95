"""An operation's history reads in French: field labels, amounts in euros, dates dd/mm/yyyy,
statuses and kinds by their French names — no internal field name, no English code."""

from __future__ import annotations

import re
from decimal import Decimal

from django.urls import reverse

from cper.audit.services import Actor
from cper.contracts.models import Objective
from cper.money import format_eur
from cper.operations import services
from cper.operations.history import readable_changes
from tests.operations.factories import OwnerFactory

INTERNAL = (
    "financer_kind",
    "cost_ht",
    "secondary_objectives",
    "external_references",
    "budget_nature",
    "under_review",
    "avant",
    "après",
    "None",
)


def _history_table(html: str) -> str:
    found = re.search(r'data-testid="history">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found
    return found.group(1)


def test_history_shows_labels_euros_and_french_names(client, hdf, users):
    instructor = users["instructor"]
    actor = Actor(user=instructor, via="web")
    op = services.operation_create(
        actor=actor,
        contract=hdf,
        title="Projet",
        owner=OwnerFactory(),
        objective=Objective.objects.get(contract=hdf, code="2.2"),
        cost_ht="1234567.80",
    )
    line = services.financing_line_add(
        actor=actor, operation=op, financer_kind="owner", amount="10"
    )
    services.financing_line_update(actor=actor, line=line, amount="2500.5")
    client.force_login(users["observer"])
    url = reverse("operations:history", kwargs={"slug": hdf.slug, "pk": op.pk})
    table = _history_table(client.get(url).content.decode())
    text = re.sub(r"<[^>]+>", "", table).replace("\u202f", " ").replace("\xa0", " ")
    assert "montant : 10,00 € → 2 500,50 €" in text
    assert "coût HT : — → 1 234 567,80 €" in text
    assert "nature du financeur : — → autofinancement" in text
    for word in INTERNAL:
        assert word not in text, word


def test_a_movements_values_read_without_a_before():
    changes = readable_changes(
        {
            "ligne": 12,
            "nature": "payment",
            "date": "2024-03-05",
            "montant": "1500.00",
            "référence": "MDT-1",
            "annule": None,
        }
    )
    assert [(c.label, c.before, c.after) for c in changes] == [
        ("ligne de financement n°", None, "12"),
        ("date", None, "05/03/2024"),
        ("montant", None, format_eur(Decimal("1500.00"))),
        ("référence", None, "MDT-1"),
    ]
