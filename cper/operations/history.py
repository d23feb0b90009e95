"""An operation's history (its audit entries) in words a person reads: French field labels,
amounts in euros, dates as dd/mm/yyyy, statuses and kinds by their French names, yes/no — never
an internal field name, an id or an English code.

Audit entries keep `changes` in two shapes: `{field: {"avant": …, "après": …}}` for an update,
and `{field: value}` for a recorded movement (a movement is never edited). Both are read here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cper.contracts.models import BudgetNature
from cper.money import format_eur
from cper.operations.models import (
    CommitteeKind,
    CostBase,
    FinancerKind,
    LegalCategory,
    LineStatus,
    OperationStatus,
)

LABELS = {
    "name": "nom",
    "siret": "SIRET",
    "rna": "RNA",
    "legal_category": "catégorie juridique",
    "commune": "commune (code INSEE)",
    "code": "numéro",
    "title": "intitulé",
    "description": "description",
    "owner": "maître d'ouvrage",
    "objective": "objectif",
    "action": "action",
    "start_date": "début prévu",
    "end_date": "fin prévue",
    "cost_ht": "coût HT",
    "cost_ttc": "coût TTC",
    "cost_base": "assiette",
    "physical_progress": "avancement physique",
    "published": "publiée",
    "departement": "département",
    "epci": "EPCI (SIREN)",
    "communes": "communes (codes INSEE)",
    "secondary_objectives": "objectifs secondaires",
    "markers": "marqueurs",
    "external_references": "références des partenaires",
    "financer_kind": "nature du financeur",
    "partner": "partenaire",
    "financer_label": "financeur",
    "amount": "montant",
    "approved_amount": "montant approuvé",
    "contractualised": "contractualisé",
    "budget_nature": "nature budgétaire",
    "programme": "programme",
    "year": "année",
    "external_ref": "référence",
    "status": "statut",
    "cancel_reason": "motif d'annulation",
    "kind": "nature",
    "place": "lieu",
    "minutes": "relevé de décisions",
    "committee": "comité",
    "outcome": "avis",
    "notes": "observations",
    "ligne": "ligne de financement n°",
    "annule": "annule le mouvement n°",
}
MONEY_KEYS = {"amount", "approved_amount", "cost_ht", "cost_ttc", "montant"}
CHOICES: dict[str, dict[str, str]] = {
    "legal_category": dict(LegalCategory.choices),
    "cost_base": dict(CostBase.choices),
    "financer_kind": dict(FinancerKind.choices),
    "budget_nature": dict(BudgetNature.choices),
    "kind": dict(CommitteeKind.choices),
    "status": {**dict(OperationStatus.choices), **dict(LineStatus.choices)},
}
# Shown by the entry's action already ("paiement enregistré"): not repeated as a change.
REDUNDANT = {"nature"}


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None  # None: a value recorded once (a movement), no "before"
    after: str


def value_text(key: str, value: Any) -> str:
    """One audited value in French."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if key in MONEY_KEYS:
        try:
            return format_eur(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            return str(value)
    if key in CHOICES and isinstance(value, str):
        return CHOICES[key].get(value, value)
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(value_text(key, v) for v in value)
    if isinstance(value, dict):
        return " ; ".join(f"{k} : {value_text(key, v)}" for k, v in value.items())
    return str(value)


def readable_changes(changes: Any) -> list[Change]:
    """The changes of one audit entry, labelled and formatted; unchanged values left out."""
    out: list[Change] = []
    if not isinstance(changes, dict):
        return out
    for key, change in changes.items():
        if key in REDUNDANT:
            continue
        label = LABELS.get(key, key.replace("_", " "))
        if isinstance(change, dict) and set(change) <= {"avant", "après"} and change:
            before, after = change.get("avant"), change.get("après")
            if before == after:
                continue
            out.append(Change(label, value_text(key, before), value_text(key, after)))
        elif change is not None:
            out.append(Change(label, None, value_text(key, change)))
    return out
