"""Rules of closings: pure functions returning findings (French messages naming the field)."""

from __future__ import annotations

import datetime as dt

from cper.findings import ERROR, Finding


def closing_findings(
    *,
    at: dt.date | None,
    today: dt.date,
    contract_start: dt.date,
    label: str,
    exists: bool,
) -> list[Finding]:
    """May the execution be arrêtée at `at` under `label`?"""
    out: list[Finding] = []
    if at is None:
        return [Finding("at", "la date d'arrêté est obligatoire", ERROR)]
    if at > today:
        out.append(
            Finding("at", f"la date d'arrêté ({at:%d/%m/%Y}) est dans le futur : rien à arrêter")
        )
    if at < contract_start:
        out.append(Finding("at", f"la date d'arrêté ({at:%d/%m/%Y}) précède le début du contrat"))
    if len(label) > 120:
        out.append(Finding("label", "le libellé dépasse 120 caractères"))
    if exists:
        which = f"le libellé « {label} »" if label else "sans libellé"
        out.append(
            Finding(
                "label",
                f"la situation au {at:%d/%m/%Y} est déjà arrêtée ({which}) : un arrêté ne se "
                "refait pas, donnez un autre libellé pour arrêter de nouveau cette date",
            )
        )
    return out


def comment_findings(*, text: str) -> list[Finding]:
    if not text.strip():
        return [Finding("text", "le commentaire est vide")]
    if len(text) > 20000:
        return [Finding("text", "le commentaire dépasse 20 000 caractères")]
    return []
