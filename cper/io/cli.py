"""Argument helpers shared by `cper import` and `cper export`."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError

from cper.contracts.models import Contract, Partner
from cper.io.readers import parse_date


def contract_arg(slug: str | None) -> Contract:
    if slug:
        contract = Contract.objects.filter(slug=slug).first()
        if contract is None:
            raise CommandError(f"contrat inconnu : {slug}")
        return contract
    contracts = list(Contract.objects.all()[:2])
    if len(contracts) != 1:
        raise CommandError("précisez le contrat : --contract SLUG")
    return contracts[0]


def partner_arg(contract: Contract, code: str | None) -> Partner | None:
    if not code:
        return None
    partner = contract.partners.filter(code=code).first()
    if partner is None:
        codes = ", ".join(contract.partners.values_list("code", flat=True))
        raise CommandError(f"partenaire inconnu : {code} (partenaires : {codes})")
    return partner


def date_arg(text: str | None) -> dt.date | None:
    if not text:
        return None

    try:
        return parse_date(text)
    except ValueError as exc:
        raise CommandError(f"--as-of : {exc}") from exc


class _Operator:
    """The operator running `cper` on the server: sees every operation (like the trusted
    command-line actor of `cper.accounts.permissions.require_actor`). `--public` exports what
    an anonymous visitor sees instead."""

    is_authenticated = True
    is_active = True
    is_superuser = True
    role = "administrator"
    organisation_id = None
    pk = None

    def __str__(self) -> str:
        return "opérateur (ligne de commande)"


OPERATOR = _Operator()
