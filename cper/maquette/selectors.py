"""Reads of the maquette: the lines in force on a date (version 0 + effective amendments)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from cper.contracts.models import Contract
from cper.maquette.models import Allocation


def allocation_lines(*, contract: Contract, as_of: dt.date | None = None) -> QuerySet[Allocation]:
    """Every maquette line in force on `as_of` (default: today)."""
    as_of = as_of or dt.date.today()
    return Allocation.objects.filter(contract=contract).filter(
        Q(amendment__isnull=True) | Q(amendment__effective_on__lte=as_of)
    )
