"""The register of operations: project owners, operations, co-financing plans, lifecycle and
committees.

Statuses change only through `cper.operations.lifecycle` (a transitions table) which writes an
`OperationTransition`; financing lines are never deleted, they are cancelled with a reason.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from cper.contracts.models import BudgetNature
from cper.db import MoneyField, Provenance


class LegalCategory(models.TextChoices):
    COMMUNE = "commune", "commune"
    EPCI = "epci", "EPCI"
    DEPARTEMENT = "departement", "département"
    REGION = "region", "région"
    STATE = "etat", "État"
    UNIVERSITY = "universite", "université"
    ASSOCIATION = "association", "association"
    COMPANY = "entreprise", "entreprise"
    PUBLIC_BODY = "etablissement_public", "établissement public"
    OTHER = "autre", "autre"


class ProjectOwner(models.Model):
    """A maître d'ouvrage, identified by its SIRET (or its RNA number for an association)."""

    name = models.CharField("nom", max_length=300)
    siret = models.CharField("SIRET", max_length=14, null=True, blank=True, unique=True)
    rna = models.CharField("numéro RNA", max_length=10, null=True, blank=True, unique=True)
    legal_category = models.CharField(
        "catégorie juridique", max_length=24, choices=LegalCategory.choices
    )
    commune = models.ForeignKey(
        "territories.Commune", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Demo owners carry generated identifiers: they say so.
    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.OFFICIAL
    )

    class Meta:
        verbose_name = "maître d'ouvrage"
        verbose_name_plural = "maîtres d'ouvrage"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(siret__isnull=False) | models.Q(rna__isnull=False),
                name="owner_has_identifier",
            )
        ]

    def __str__(self) -> str:
        return self.name


class OperationStatus(models.TextChoices):
    DRAFT = "draft", "brouillon"
    SUBMITTED = "submitted", "déposée"
    UNDER_REVIEW = "under_review", "en instruction"
    PROGRAMMED = "programmed", "programmée"
    IN_PROGRESS = "in_progress", "en cours"
    COMPLETED = "completed", "achevée"
    CLOSED = "closed", "soldée"
    ADJOURNED = "adjourned", "ajournée"
    REJECTED = "rejected", "rejetée"
    ABANDONED = "abandoned", "abandonnée"


# Statuses whose contractualised financing lines count as *programmed* against the maquette.
PROGRAMMED_STATUSES = (
    OperationStatus.PROGRAMMED,
    OperationStatus.IN_PROGRESS,
    OperationStatus.COMPLETED,
    OperationStatus.CLOSED,
)


class CostBase(models.TextChoices):
    HT = "ht", "HT"
    TTC = "ttc", "TTC"


class Operation(models.Model):
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="operations"
    )
    code = models.CharField("numéro", max_length=40)
    title = models.CharField("intitulé", max_length=400)
    description = models.TextField("description", blank=True)
    owner = models.ForeignKey(
        ProjectOwner,
        on_delete=models.PROTECT,
        related_name="operations",
        verbose_name="maître d'ouvrage",
    )
    objective = models.ForeignKey(
        "contracts.Objective",
        on_delete=models.PROTECT,
        related_name="operations",
        verbose_name="objectif principal",
    )
    # The third level of the structure, where the contract has one (issue 12): an action of the
    # main objective (the services check it belongs to it).
    action = models.ForeignKey(
        "contracts.Action",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operations",
        verbose_name="action",
    )
    secondary_objectives = models.ManyToManyField(
        "contracts.Objective", related_name="secondary_operations", blank=True
    )
    communes = models.ManyToManyField(
        "territories.Commune", related_name="operations", through="OperationCommune"
    )
    # Derived from the first commune by the services (never typed by hand); kept on the row so
    # that filters and aggregations by département need no join through the communes.
    departement = models.ForeignKey(
        "territories.Departement",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operations",
    )
    epci = models.ForeignKey(
        "territories.Epci",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operations",
    )
    status = models.CharField(
        "statut",
        max_length=14,
        choices=OperationStatus.choices,
        default=OperationStatus.DRAFT,
        db_index=True,
    )
    start_date = models.DateField("début prévu", null=True, blank=True)
    end_date = models.DateField("fin prévue", null=True, blank=True)
    cost_ht = MoneyField("coût total HT (€)", null=True, blank=True)
    cost_ttc = MoneyField("coût total TTC (€)", null=True, blank=True)
    cost_base = models.CharField(
        "assiette du financement", max_length=3, choices=CostBase.choices, default=CostBase.HT
    )
    markers = models.ManyToManyField("contracts.Marker", related_name="operations", blank=True)
    physical_progress = models.TextField("avancement physique", blank=True)
    published = models.BooleanField("publiée", default=False)
    # official: entered by the partners; illustrative: generated by `cper demo`.
    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.OFFICIAL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "opération"
        ordering = ["contract", "code"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "code"], name="operation_code_unique"),
            models.CheckConstraint(
                condition=models.Q(cost_ht__isnull=True) | models.Q(cost_ht__gte=0),
                name="operation_cost_ht_pos",
            ),
            models.CheckConstraint(
                condition=models.Q(cost_ttc__isnull=True) | models.Q(cost_ttc__gte=0),
                name="operation_cost_ttc_pos",
            ),
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="operation_dates_order",
            ),
        ]
        indexes = [
            models.Index(fields=["contract", "status"]),
            models.Index(fields=["contract", "departement"]),
            models.Index(fields=["contract", "objective"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def eligible_cost(self):  # type: ignore[no-untyped-def]
        return self.cost_ttc if self.cost_base == CostBase.TTC else self.cost_ht


class OperationCommune(models.Model):
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE)
    commune = models.ForeignKey("territories.Commune", on_delete=models.PROTECT)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["operation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "commune"], name="operation_commune_u")
        ]


class ExternalReference(models.Model):
    """A partner's own file number for an operation (Chorus, the Region's software…)."""

    operation = models.ForeignKey(
        Operation, on_delete=models.CASCADE, related_name="external_references"
    )
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+")
    reference = models.CharField("référence", max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "reference"], name="external_ref_unique")
        ]


class FinancerKind(models.TextChoices):
    PARTNER = "partner", "partenaire du contrat"
    EU_FUND = "eu_fund", "fonds européen"
    OTHER_PUBLIC = "other_public", "autre financement public"
    OWNER = "owner", "autofinancement du maître d'ouvrage"
    PRIVATE = "private", "financement privé"
    # Co-financers that are neither signatories nor EU funds (issue 12): shown apart.
    STATE_OPERATOR = "state_operator", "opérateur de l'État"
    BANQUE_DES_TERRITOIRES = "banque_des_territoires", "Banque des Territoires"


class LineStatus(models.TextChoices):
    ACTIVE = "active", "active"
    CANCELLED = "cancelled", "annulée"


class FinancingLine(models.Model):
    """One financer's share in an operation's co-financing plan."""

    operation = models.ForeignKey(
        Operation, on_delete=models.PROTECT, related_name="financing_lines"
    )
    financer_kind = models.CharField(
        "type de financeur", max_length=24, choices=FinancerKind.choices
    )
    partner = models.ForeignKey(
        "contracts.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="financing_lines",
    )
    financer_label = models.CharField("financeur", max_length=200, blank=True)  # FEDER, FSE+…
    # The objective the line counts against in the maquette: the operation's main one by default.
    objective = models.ForeignKey(
        "contracts.Objective", on_delete=models.PROTECT, related_name="financing_lines"
    )
    amount = MoneyField("montant (€)")
    contractualised = models.BooleanField("contractualisé (compte dans la maquette)", default=True)
    budget_nature = models.CharField(
        "nature budgétaire", max_length=8, choices=BudgetNature.choices, default=BudgetNature.AP_CP
    )
    programme = models.ForeignKey(
        "contracts.BudgetProgramme",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="financing_lines",
    )
    # The State's budget chain (issue 12): BOP and activity of the programme, as Chorus names
    # them; nullable columns (the demo inserts lines by raw SQL naming its columns).
    bop = models.CharField("BOP", max_length=30, null=True, blank=True)
    activity = models.CharField("activité", max_length=30, null=True, blank=True)
    year = models.PositiveSmallIntegerField("année de programmation", null=True, blank=True)
    external_ref = models.CharField("référence du financeur", max_length=100, blank=True)
    status = models.CharField(
        "état", max_length=10, choices=LineStatus.choices, default=LineStatus.ACTIVE
    )
    cancel_reason = models.TextField("motif d'annulation", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ligne de financement"
        verbose_name_plural = "lignes de financement"
        ordering = ["operation", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="line_amount_pos"),
            models.CheckConstraint(
                condition=~models.Q(financer_kind="partner") | models.Q(partner__isnull=False),
                name="line_partner_required",
            ),
            models.CheckConstraint(
                condition=models.Q(contractualised=False) | models.Q(partner__isnull=False),
                name="line_contractualised_needs_partner",
            ),
        ]

    def __str__(self) -> str:
        who = self.partner or self.financer_label or self.get_financer_kind_display()
        return f"{self.operation_id} · {who} · {self.amount}"


class OperationTransition(models.Model):
    """The log of status changes: who, when, why, on which committee decision."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=14, choices=OperationStatus.choices)
    to_status = models.CharField(max_length=14, choices=OperationStatus.choices)
    # A default rather than auto_now_add, so that the demo (and imports of history) can date it.
    at = models.DateTimeField("date", default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField("motif", blank=True)
    decision = models.ForeignKey(
        "operations.Decision", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["operation", "at", "id"]


class CommitteeKind(models.TextChoices):
    STEERING = "pilotage", "comité de pilotage"
    PROGRAMMING = "programmation", "comité de programmation"
    MONITORING = "suivi", "comité de suivi"


class Committee(models.Model):
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="committees"
    )
    kind = models.CharField("nature", max_length=14, choices=CommitteeKind.choices)
    date = models.DateField("date")
    place = models.CharField("lieu", max_length=200, blank=True)
    title = models.CharField("intitulé", max_length=300, blank=True)
    minutes = models.TextField("relevé de décisions", blank=True)
    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.OFFICIAL
    )

    class Meta:
        verbose_name = "comité"
        ordering = ["contract", "-date"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} du {self.date:%d/%m/%Y}"


class DecisionOutcome(models.TextChoices):
    APPROVED = "approved", "avis favorable"
    ADJOURNED = "adjourned", "ajournée"
    REJECTED = "rejected", "avis défavorable"


class Decision(models.Model):
    """A committee's decision on one operation of its agenda."""

    committee = models.ForeignKey(Committee, on_delete=models.PROTECT, related_name="decisions")
    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(
        "décision", max_length=10, choices=DecisionOutcome.choices, null=True, blank=True
    )  # null while only on the agenda
    notes = models.TextField("observations", blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "décision"
        ordering = ["committee", "id"]
        constraints = [
            models.UniqueConstraint(fields=["committee", "operation"], name="decision_unique")
        ]


class DecisionAmount(models.Model):
    """The amount a decision approves for one financing line."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="amounts")
    financing_line = models.ForeignKey(
        FinancingLine, on_delete=models.PROTECT, related_name="decision_amounts"
    )
    amount = MoneyField("montant approuvé (€)")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="decision_amount_pos")
        ]


# -- issue 12: partners' decisions --------------------------------------------------------------


class PartnerDecisionKind(models.TextChoices):
    ARRETE_ATTRIBUTIF = "arrete_attributif", "arrêté attributif"
    CONVENTION = "convention", "convention"
    DELIBERATION_CP = "deliberation_cp", "délibération de la commission permanente"
    DELIBERATION_CONSEIL = (
        "deliberation_conseil",
        "délibération du conseil (départemental, métropolitain…)",
    )
    DECISION_BUREAU = "decision_bureau", "décision du bureau"
    OTHER = "autre", "autre"


class PartnerDecisionOutcome(models.TextChoices):
    GRANTED = "granted", "accordée"
    REFUSED = "refused", "refusée"
    WITHDRAWN = "withdrawn", "retirée"


class PartnerDecision(models.Model):
    """A co-financer's own decision on its financing line (arrêté attributif, délibération of
    the commission permanente…), taken in its own body. A line may carry several (an amending
    deliberation): the latest in date (then in recording order) is the one in force. Under the
    contract's `partner_decision` programming mode, the decision in force, when it grants an
    amount, is what programmes the line (`cper.finance.summaries`). Rows are appended, never
    edited: a correction is a new decision."""

    financing_line = models.ForeignKey(
        FinancingLine, on_delete=models.PROTECT, related_name="partner_decisions"
    )
    # The line's partner, copied by the service (the decision is that partner's act).
    partner = models.ForeignKey("contracts.Partner", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField("nature de l'acte", max_length=20, choices=PartnerDecisionKind.choices)
    body = models.CharField("instance", max_length=200, blank=True)
    date = models.DateField("date de la décision")
    reference = models.CharField("référence", max_length=100, blank=True)
    amount = MoneyField("montant décidé (€)")
    outcome = models.CharField(
        "sens", max_length=10, choices=PartnerDecisionOutcome.choices, default="granted"
    )
    # Stored under MEDIA_ROOT but never served as a static file: a view checks the permission
    # and streams it.
    document = models.FileField("acte signé", upload_to="decisions/%Y/", blank=True)
    notes = models.TextField("observations", blank=True)
    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.OFFICIAL
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField("enregistrée le", default=timezone.now)

    class Meta:
        verbose_name = "décision du financeur"
        verbose_name_plural = "décisions des financeurs"
        ordering = ["financing_line", "date", "id"]
        indexes = [models.Index(fields=["financing_line", "date"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="partner_decision_amount_pos"
            ),
            models.CheckConstraint(
                condition=models.Q(outcome="granted") | models.Q(amount=0),
                name="partner_decision_refusal_zero",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} du {self.date:%d/%m/%Y}"

    @property
    def grants(self) -> bool:
        return self.outcome == PartnerDecisionOutcome.GRANTED and self.amount > 0
