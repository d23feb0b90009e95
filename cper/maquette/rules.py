"""Consistency rules on the maquette (plain functions returning findings)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from cper.checks import BLOCKING, WARNING, Finding, register_check
from cper.contracts.models import Contract
from cper.maquette.selectors import allocation_lines
from cper.money import format_eur


@register_check
def check_allocations_cover_contract(contract: Contract) -> list[Finding]:
    findings: list[Finding] = []
    lines = allocation_lines(contract=contract)
    initial = lines.filter(amendment__isnull=True).aggregate(s=Sum("amount"))["s"] or Decimal("0")
    if initial > contract.envelope:
        findings.append(
            Finding(
                BLOCKING,
                "allocations-au-dela-de-l-enveloppe",
                f"La maquette initiale ({format_eur(initial)}) dépasse l'enveloppe du contrat "
                f"({format_eur(contract.envelope)}) de {format_eur(initial - contract.envelope)}.",
            )
        )
    allocated_objectives = set(lines.values_list("objective_id", flat=True))
    for obj in contract.objectives.select_related("axis").order_by("axis__number", "position"):
        if obj.pk not in allocated_objectives:
            findings.append(
                Finding(
                    WARNING,
                    "objectif-sans-allocation",
                    f"L'objectif {obj.code} n'a aucune allocation.",
                )
            )
    allocated_partners = set(lines.values_list("partner_id", flat=True))
    for partner in contract.partners.all():
        if partner.pk not in allocated_partners:
            findings.append(
                Finding(
                    BLOCKING,
                    "partenaire-sans-allocation",
                    f"Le partenaire « {partner.name} » n'a aucune allocation dans la maquette.",
                )
            )
    return findings
