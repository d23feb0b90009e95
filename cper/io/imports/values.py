"""Pure helpers turning the text of an operations file's cells into what the register takes:
SIRET/RNA numbers, lists of commune codes, a budget nature, a legal category guessed from the
maître d'ouvrage's name; and the merged pseudo-row of a group of rows. No database."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cper.io.readers import (
    Column,
    normalize,
)

BUDGET_NATURES = {"ae cp": "ae_cp", "ap cp": "ap_cp", "autre": "other", "other": "other"}
LEGAL_GUESSES = (
    ("commune", "commune"),
    ("ville", "commune"),
    ("mairie", "commune"),
    ("communaute", "epci"),
    ("metropole", "epci"),
    ("agglomeration", "epci"),
    ("syndicat", "etablissement_public"),
    ("departement", "departement"),
    ("region", "region"),
    ("universite", "universite"),
    ("association", "association"),
    ("etat", "etat"),
    ("prefecture", "etat"),
    ("sa ", "entreprise"),
    ("sas", "entreprise"),
    ("sarl", "entreprise"),
)


def guess_legal_category(name: str) -> str:
    """The legal category of a new maître d'ouvrage the file does not give, from its name."""
    n = f"{normalize(name)} "
    for word, category in LEGAL_GUESSES:
        if n.startswith(word) or f" {word}" in n:
            return category
    return "autre"


class MergedRow(list):  # type: ignore[type-arg]
    """A pseudo-row built from a group's merged values, so `convert` can read it."""

    def __init__(self, merged: dict[str, Any], cols: dict[str, Column]):
        width = max((c.index for c in cols.values()), default=-1) + 1
        super().__init__([None] * width)
        for name, value in merged.items():
            if name in cols:
                self[cols[name].index] = value


def slices(values: Iterable[Any], size: int = 5000) -> Iterable[list[Any]]:
    """The values, sorted, by lists of `size` (SQLite caps the variables of a query)."""
    items = sorted(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def clean_id(text: str) -> str:
    """A SIRET or RNA number as written in a cell, without its spaces, dots and dashes."""
    return re.sub(r"[\s.\-\u00a0\u202f]", "", text or "").upper()


def commune_codes(text: str) -> list[str]:
    """The INSEE codes a « Communes » cell lists, in order."""
    out = []
    for token in re.split(r"[\s,;/|]+", text or ""):
        token = token.strip().upper()
        if not token:
            continue
        if token.isdigit() and len(token) == 4:
            token = "0" + token  # a spreadsheet lost the leading zero
        out.append(token)
    return out
