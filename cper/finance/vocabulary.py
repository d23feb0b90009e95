"""The words of each budget chain: a State line speaks AE/CP (« AE engagées », « CP payés »,
« n° d'EJ »), a local authority's AP/CP line speaks of engagements and mandats. Pages, exports
and commands ask here for the labels of a line's measures rather than writing "engagé" / "payé"
for every partner (issue 12, item 2: each partner's pages use its own words).

Pure functions, no database: a budget nature is the value of
`cper.contracts.models.BudgetNature` ("ae_cp", "ap_cp", "other").
"""

from __future__ import annotations

AE_CP = "ae_cp"
AP_CP = "ap_cp"

# The labels every face uses when the budget nature is unknown or mixed (several partners).
_NEUTRAL = {
    "committed": "engagé",
    "paid": "payé",
    "commitment_ref": "référence de l'engagement",
    "payment_ref": "référence du paiement",
    "commitment": "engagement",
    "payment": "paiement",
}

_LABELS: dict[str, dict[str, str]] = {
    # The State (LOLF art. 8): autorisations d'engagement consumed by engagements juridiques
    # (Chorus EJ, 10 digits), crédits de paiement consumed by payments.
    AE_CP: {
        "committed": "AE engagées",
        "paid": "CP payés",
        "commitment_ref": "n° d'EJ",
        "payment_ref": "n° de demande de paiement",
        "commitment": "engagement juridique (AE)",
        "payment": "paiement (CP)",
    },
    # Local authorities (CGCT L4311-3, L3312-4, L2311-3): AP, engagement, mandat.
    AP_CP: {
        "committed": "engagé",
        "paid": "CP mandatés",
        "commitment_ref": "n° d'engagement",
        "payment_ref": "n° de mandat",
        "commitment": "engagement",
        "payment": "mandat",
    },
}


def measure_labels(budget_nature: str | None) -> dict[str, str]:
    """The labels of a line's measures for its budget nature: keys `committed`, `paid`,
    `commitment_ref`, `payment_ref`, `commitment`, `payment` (neutral words when the nature is
    unknown, other or None)."""
    return dict(_LABELS.get(budget_nature or "", _NEUTRAL))


def is_state_chain(budget_nature: str | None) -> bool:
    """Whether the line spends through the State's AE/CP chain."""
    return budget_nature == AE_CP


# -- localchain: the AP/CP chain's words (affectation, mandat) and movement kinds per chain --

# What the local authorities' AP/CP chain adds to its measures (`measure_labels` keeps its keys).
AP_CP_EXTRA = {
    "affected": "AP affectée",
    "affectation": "affectation d'AP",
    "desaffectation": "désaffectation",
    "affectation_ref": "n° de délibération ou d'affectation",
}

# Movement kinds as each chain names them (the ledger's own labels: `MovementKind`).
_KIND_WORDS: dict[str, dict[str, str]] = {
    AE_CP: {
        "commitment": "engagement juridique (AE engagées)",
        "decommitment": "retrait d'engagement juridique (AE)",
        "payment": "paiement (CP payés)",
        "payment_cancellation": "annulation de paiement (CP)",
    },
    AP_CP: {
        "affectation": "affectation d'AP",
        "desaffectation": "désaffectation d'AP",
        "commitment": "engagement",
        "decommitment": "désengagement",
        "payment": "mandat (CP mandatés)",
        "payment_cancellation": "annulation de mandat",
    },
}

AFFECTATION_KINDS = ("affectation", "desaffectation")


def ap_labels(budget_nature: str | None) -> dict[str, str]:
    """`measure_labels` plus, for an AP/CP line, the AP chain's words (`affected`…)."""
    labels = measure_labels(budget_nature)
    if budget_nature == AP_CP:
        labels.update(AP_CP_EXTRA)
    return labels


def kind_label(kind: str, budget_nature: str | None, default: str = "") -> str:
    """A movement kind in the words of the line's chain (`default`, else the kind, when the
    chain has no word of its own)."""
    return _KIND_WORDS.get(budget_nature or "", {}).get(kind, default or kind)


def offers_affectation(budget_nature: str | None, affectation_required: bool = False) -> bool:
    """Whether a line's movement kinds include affectation and désaffectation: AP/CP lines,
    and any line whose partner requires affectations."""
    return budget_nature == AP_CP or bool(affectation_required)


def movement_kind_choices(
    choices: list[tuple[str, str]],
    budget_nature: str | None,
    affectation_required: bool = False,
) -> list[tuple[str, str]]:
    """The (kind, label) choices a line offers, in its chain's words: affectation and
    désaffectation only where `offers_affectation`."""
    offered = offers_affectation(budget_nature, affectation_required)
    return [
        (value, kind_label(value, budget_nature, label))
        for value, label in choices
        if offered or value not in AFFECTATION_KINDS
    ]
