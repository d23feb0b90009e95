"""Shared model building blocks: money fields and the provenance of a figure."""

from __future__ import annotations

from typing import Any

from django.db import models

from cper.money import DECIMAL_PLACES, MAX_DIGITS


class MoneyField(models.DecimalField):
    """Euros with cents, stored exactly (NUMERIC on PostgreSQL, decimal text on SQLite)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key, default in (("max_digits", MAX_DIGITS), ("decimal_places", DECIMAL_PLACES)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs


class Provenance(models.TextChoices):
    OFFICIAL = "official", "officiel"
    ILLUSTRATIVE = "illustrative", "illustratif"


class Sourced(models.Model):
    """A figure that says whether it is the contract's (official, with its source) or invented."""

    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.ILLUSTRATIVE
    )
    source = models.CharField("source", max_length=500, blank=True)

    class Meta:
        abstract = True
