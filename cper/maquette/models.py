"""The financial maquette: allocations per partner × objective (× year), and its amendments.

Version 0 is the set of allocation lines with no amendment; amendment n adds its own lines
(positive or negative changes). The maquette in force on date D is version 0 plus the lines of
every amendment effective on or before D: nothing is overwritten, so any past state is a query.
"""

from __future__ import annotations

from django.db import models

from cper.contracts.models import BudgetNature
from cper.db import MoneyField, Sourced


class AmendmentKind(models.TextChoices):
    ADDITION = "addition", "ajout de crédits"
    REDEPLOYMENT = "redeployment", "redéploiement (à somme nulle)"
    MIXED = "mixed", "mixte"


class Amendment(models.Model):
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="amendments"
    )
    number = models.PositiveSmallIntegerField("numéro")
    title = models.CharField("intitulé", max_length=300)
    kind = models.CharField("nature", max_length=14, choices=AmendmentKind.choices)
    adopted_on = models.DateField("adopté le", null=True, blank=True)
    signed_on = models.DateField("signé le", null=True, blank=True)
    effective_on = models.DateField("en vigueur le")
    decision_ref = models.CharField("référence de la décision", max_length=300, blank=True)
    rationale = models.TextField("exposé des motifs", blank=True)
    provenance = models.CharField(max_length=16, default="illustrative")
    source = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "avenant"
        ordering = ["contract", "number"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "number"], name="amendment_number_unique"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="amendment_number_pos"),
        ]

    def __str__(self) -> str:
        return f"Avenant n°{self.number} — {self.title}"


class Allocation(Sourced):
    """One line of the maquette: an initial amount (amendment is null) or an amendment's change."""

    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="allocations"
    )
    amendment = models.ForeignKey(
        Amendment, on_delete=models.PROTECT, null=True, blank=True, related_name="changes"
    )
    partner = models.ForeignKey(
        "contracts.Partner", on_delete=models.PROTECT, related_name="allocations"
    )
    objective = models.ForeignKey(
        "contracts.Objective", on_delete=models.PROTECT, related_name="allocations"
    )
    year = models.PositiveSmallIntegerField("année", null=True, blank=True)
    amount = MoneyField("montant (€)")
    budget_nature = models.CharField(
        "nature budgétaire", max_length=8, choices=BudgetNature.choices, default=BudgetNature.AP_CP
    )
    programme = models.ForeignKey(
        "contracts.BudgetProgramme",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocations",
        verbose_name="programme LOLF",
    )
    note = models.CharField("note", max_length=300, blank=True)

    class Meta:
        verbose_name = "ligne de maquette"
        verbose_name_plural = "lignes de maquette"
        indexes = [models.Index(fields=["contract", "amendment"])]
        constraints = [
            # Version 0 holds no negative amount; an amendment's change may be negative.
            models.CheckConstraint(
                condition=models.Q(amendment__isnull=False) | models.Q(amount__gte=0),
                name="allocation_initial_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.objective_id}/{self.year or '-'}: {self.amount}"


# -- issue 12: valorised credits, apart from the maquette --


class ValorisedCredit(Sourced):
    """A signatory's credits *valorised* in the contract: they serve its objectives outside
    the contracted envelope (CPER practice; e.g. Pays de la Loire 2021-2027 shows 1,327.3 M€
    valorised beside 1,046.8 M€ contracted). Their own optional maquette, in a table of its own
    so that no sum of `Allocation` (the maquette, the envelope, the shares, the execution
    rates) can ever include them."""

    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="valorised_credits"
    )
    partner = models.ForeignKey(
        "contracts.Partner", on_delete=models.PROTECT, related_name="valorised_credits"
    )
    objective = models.ForeignKey(
        "contracts.Objective", on_delete=models.PROTECT, related_name="valorised_credits"
    )
    year = models.PositiveSmallIntegerField("année", null=True, blank=True)
    amount = MoneyField("montant (€)")
    note = models.CharField("note", max_length=300, blank=True)

    class Meta:
        verbose_name = "crédits valorisés"
        verbose_name_plural = "crédits valorisés"
        ordering = ["contract", "partner", "objective", "year"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="valorised_amount_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.objective_id}/{self.year or '-'}: {self.amount} (valorisé)"
