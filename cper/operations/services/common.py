"""Helpers shared by the register's write services: findings to `ValidationError`, money
parsing keyed by field, refusal of fields a service does not change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from cper.findings import Finding, as_error_dict
from cper.money import MoneyError, to_money


def raise_findings(findings: Iterable[Finding]) -> None:
    errors = as_error_dict(findings)
    if errors:
        raise ValidationError(errors)


def money_value(value: Any, field: str, *, required: bool = False) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise ValidationError({field: ["le montant est obligatoire"]})
        return None
    try:
        return to_money(value)
    except MoneyError as exc:
        raise ValidationError({field: [str(exc)]}) from exc


def refuse_unknown_keys(changes: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"{what} : champ(s) non modifiable(s) : {', '.join(sorted(unknown))}")
