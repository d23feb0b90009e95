"""The contract: signatories (partners), priorities, axes, objectives and thematic markers.

Loaded from a reviewed data file under `contracts/` by `cper contract load`; money figures
stated by the contract (envelope, partners' totals) carry their provenance (official/illustrative).
"""

from __future__ import annotations

from django.db import models

from cper.db import MoneyField, Provenance, Sourced


class ContractStatus(models.TextChoices):
    DRAFT = "draft", "en préparation"
    SIGNED = "signed", "signé"
    IN_FORCE = "in_force", "en exécution"
    CLOSED = "closed", "clos"


class ProgrammingMode(models.TextChoices):
    """What makes a contractualised financing line *programmed* (issue 12)."""

    COMMITTEE = "committee", "l'avis du comité programme les lignes"
    PARTNER_DECISION = "partner_decision", "la décision de chaque financeur programme sa ligne"


class OverProgrammingPolicy(models.TextChoices):
    WARN = "warn", "signaler"
    BLOCK = "block", "bloquer"


class Contract(models.Model):
    slug = models.SlugField("identifiant", max_length=80, unique=True)
    title = models.CharField("intitulé", max_length=300)
    region = models.ForeignKey(
        "territories.Region", on_delete=models.PROTECT, related_name="contracts"
    )
    start_year = models.PositiveSmallIntegerField("première année")
    end_year = models.PositiveSmallIntegerField("dernière année")
    envelope = MoneyField("enveloppe globale (€)")
    envelope_provenance = models.CharField(
        max_length=16, choices=Provenance.choices, default=Provenance.OFFICIAL
    )
    envelope_source = models.CharField(max_length=500, blank=True)
    signature_date = models.DateField("date de signature", null=True, blank=True)
    signature_place = models.CharField("lieu de signature", max_length=100, blank=True)
    signature_source = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        "statut", max_length=12, choices=ContractStatus.choices, default=ContractStatus.IN_FORCE
    )
    description = models.TextField("présentation", blank=True)
    notes = models.TextField("notes", blank=True)
    share_tolerance = models.DecimalField(
        "tolérance sur les parts par axe (points)", max_digits=5, decimal_places=2, default=0.5
    )
    over_programming = models.CharField(
        "sur-programmation",
        max_length=8,
        choices=OverProgrammingPolicy.choices,
        default=OverProgrammingPolicy.WARN,
    )
    execution_tolerance = MoneyField("tolérance payé ≤ engagé ≤ programmé (€)", default=0)
    # issue 12: EU-fund style (the committee's approval programmes every line) or CPER style
    # (each partner's own decision programmes its line; the committee gives an avis).
    programming_mode = models.CharField(
        "mode de programmation",
        max_length=16,
        choices=ProgrammingMode.choices,
        default=ProgrammingMode.COMMITTEE,
        db_default=ProgrammingMode.COMMITTEE,
    )

    class Meta:
        verbose_name = "contrat"
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_year__gte=models.F("start_year")), name="contract_period"
            ),
            models.CheckConstraint(
                condition=models.Q(envelope__gte=0), name="contract_envelope_pos"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def years(self) -> range:
        return range(self.start_year, self.end_year + 1)


class PartnerKind(models.TextChoices):
    STATE = "state", "État"
    STATE_OPERATOR = "state_operator", "opérateur de l'État"
    REGION = "region", "région"
    DEPARTEMENT = "departement", "département"
    EPCI = "epci", "métropole / EPCI"
    EU_FUND = "eu_fund", "fonds européen"
    OTHER = "other", "autre"


class BudgetNature(models.TextChoices):
    """How the partner votes the money: State AE/CP; local authorities AP/CP (or AE/CP)."""

    AE_CP = "ae_cp", "AE/CP"
    AP_CP = "ap_cp", "AP/CP"
    OTHER = "other", "autre"


class Partner(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="partners")
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="partnerships"
    )
    code = models.SlugField("code", max_length=30)
    kind = models.CharField("nature", max_length=20, choices=PartnerKind.choices)
    name = models.CharField("nom", max_length=200)
    short_name = models.CharField("nom court", max_length=60, blank=True)
    insee_code = models.CharField("code INSEE", max_length=5, blank=True)
    siren = models.CharField("SIREN", max_length=9, blank=True)
    siret = models.CharField("SIRET", max_length=14, blank=True)
    budget_nature = models.CharField(
        "nature budgétaire", max_length=8, choices=BudgetNature.choices, default=BudgetNature.AP_CP
    )
    signatory = models.BooleanField("signataire", default=True)
    position = models.PositiveSmallIntegerField("ordre", default=0)
    # -- issue 12: AP/CP chain (localchain) --
    # Local authorities voting AP/CP affect part of an AP to a line before committing it;
    # with this flag a commitment beyond the line's net affected amount is refused.
    affectation_required = models.BooleanField(
        "affectation d'AP requise avant engagement", default=False, db_default=False
    )
    # Months without any payment after which an affectation or a commitment lapses (caducité
    # of the partner's budget rules); null: no caducité followed.
    caducity_months = models.PositiveSmallIntegerField(
        "délai de caducité (mois)", null=True, blank=True
    )
    # -- end localchain --

    class Meta:
        verbose_name = "partenaire"
        ordering = ["contract", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "code"], name="partner_code_unique")
        ]

    def __str__(self) -> str:
        return self.short_name or self.name


class PartnerStatedAmount(Sourced):
    """A partner's commitment as stated by the contract or its signatories (total or per axis)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="stated_amounts")
    axis = models.ForeignKey(
        "contracts.Axis", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    amount = MoneyField("montant (€)")

    class Meta:
        verbose_name = "montant annoncé d'un partenaire"
        constraints = [
            models.UniqueConstraint(fields=["partner", "axis"], name="stated_amount_unique_axis"),
            models.UniqueConstraint(
                fields=["partner"],
                condition=models.Q(axis__isnull=True),
                name="stated_amount_unique_total",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="stated_amount_pos"),
        ]


class Axis(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="axes")
    number = models.PositiveSmallIntegerField("numéro")
    title = models.CharField("intitulé", max_length=300)
    stated_share = models.DecimalField(
        "part des crédits annoncée (%)", max_digits=5, decimal_places=2, null=True, blank=True
    )
    share_note = models.CharField("note sur la part", max_length=300, blank=True)
    share_source = models.CharField(max_length=500, blank=True)
    # issue 12 (volets): nullable column for existing rows; the loader always sets it.
    volet = models.ForeignKey(
        "contracts.Volet",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="axes",
        verbose_name="volet",
    )

    class Meta:
        verbose_name = "axe"
        ordering = ["contract", "number"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "number"], name="axis_number_unique"),
            models.CheckConstraint(
                condition=models.Q(stated_share__isnull=True)
                | (models.Q(stated_share__gte=0) & models.Q(stated_share__lte=100)),
                name="axis_share_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Axe {self.number} — {self.title}"


class Objective(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="objectives")
    axis = models.ForeignKey(Axis, on_delete=models.CASCADE, related_name="objectives")
    code = models.CharField("code", max_length=10)  # "2.5"
    title = models.CharField("intitulé", max_length=400)
    position = models.PositiveSmallIntegerField("ordre", default=0)

    class Meta:
        verbose_name = "objectif"
        ordering = ["contract", "axis__number", "position"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "code"], name="objective_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Priority(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="priorities")
    number = models.PositiveSmallIntegerField("numéro")
    title = models.CharField("intitulé", max_length=400)
    axes = models.ManyToManyField(Axis, related_name="priorities")

    class Meta:
        verbose_name = "priorité"
        ordering = ["contract", "number"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "number"], name="priority_number_unique")
        ]

    def __str__(self) -> str:
        return f"Priorité {self.number}"


class Marker(models.Model):
    """A cross-cutting theme (e.g. employment, training and career guidance) set on objectives
    and operations."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="markers")
    code = models.SlugField("code", max_length=50)
    label = models.CharField("libellé", max_length=300)
    description = models.TextField("description", blank=True)
    objectives = models.ManyToManyField(Objective, related_name="markers", blank=True)

    class Meta:
        verbose_name = "marqueur transversal"
        verbose_name_plural = "marqueurs transversaux"
        ordering = ["contract", "code"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "code"], name="marker_code_unique")
        ]

    def __str__(self) -> str:
        return self.label


class MarkerContribution(models.Model):
    """How an axis contributes to a marker, in the contract's words."""

    marker = models.ForeignKey(Marker, on_delete=models.CASCADE, related_name="contributions")
    axis = models.ForeignKey(Axis, on_delete=models.CASCADE, related_name="marker_contributions")
    statement = models.TextField("énoncé")
    themes = models.JSONField("thèmes", default=list, blank=True)
    territories = models.ManyToManyField(
        "territories.ProjectTerritory", related_name="marker_contributions", blank=True
    )

    class Meta:
        verbose_name = "contribution d'un axe à un marqueur"
        ordering = ["marker", "axis__number"]
        constraints = [
            models.UniqueConstraint(fields=["marker", "axis"], name="marker_contribution_unique")
        ]


class ContractTerritory(models.Model):
    """A project territory named by a contract (Bassin minier, Sambre-Avesnois-Thiérache…)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="territories")
    territory = models.ForeignKey(
        "territories.ProjectTerritory", on_delete=models.PROTECT, related_name="contracts"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contract", "territory"], name="contract_territory_u")
        ]

    def __str__(self) -> str:
        return f"{self.territory} ({self.contract})"


class BudgetProgramme(models.Model):
    """A LOLF programme of the State budget (P112…), kept as reference data, not an enum."""

    code = models.CharField("code", max_length=10, unique=True)
    label = models.CharField("libellé", max_length=300)
    ministry = models.CharField("ministère", max_length=200, blank=True)
    valid_from = models.PositiveSmallIntegerField("depuis", null=True, blank=True)
    valid_to = models.PositiveSmallIntegerField("jusqu'à", null=True, blank=True)

    class Meta:
        verbose_name = "programme LOLF"
        verbose_name_plural = "programmes LOLF"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.label}"


# -- issue 12: third level of the structure (actions under an objective) --


class ActionKind(models.TextChoices):
    NAMED_OPERATION = "operation_nommee", "opération inscrite au contrat"
    ENVELOPE = "enveloppe", "enveloppe"
    CALL_FOR_PROJECTS = "appel_a_projets", "appel à projets"


class Action(models.Model):
    """The third level of a contract's structure, where the contract has one: a sub-objective
    or a type of action under an objective, numbered as the contract numbers it (« 1.1.1 »),
    and whether it is an operation named in the contract's text, an envelope, or a call for
    projects. Operations may point at one of their objective's actions."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="actions")
    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="actions")
    code = models.CharField("code", max_length=16)  # "1.1.1"
    title = models.CharField("intitulé", max_length=400)
    position = models.PositiveSmallIntegerField("ordre", default=0)
    kind = models.CharField(
        "nature", max_length=16, choices=ActionKind.choices, default=ActionKind.ENVELOPE
    )
    # The contract lists typologies of actions in prose: a numbered list is often ours.
    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.OFFICIAL
    )

    class Meta:
        verbose_name = "action"
        ordering = ["contract", "objective__axis__number", "objective__position", "position"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "code"], name="action_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


# -- issue 12: volets of a contract (volets) --


class Volet(Sourced):
    """A part of the contract with its own calendar and envelope (« volet hors mobilités »
    2021-2027, « volet mobilités » 2023-2027 brought by an amendment). Each axis belongs to one
    volet; shares, the linear pace and the alerts are computed per volet. `provenance` and
    `source` are the envelope's. The amendment that created the volet is named by its number
    (a foreign key to the maquette's amendments would make contracts depend on maquette)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="volets")
    code = models.SlugField("code", max_length=50)
    title = models.CharField("intitulé", max_length=300)
    start_year = models.PositiveSmallIntegerField("première année")
    end_year = models.PositiveSmallIntegerField("dernière année")
    envelope = MoneyField("enveloppe du volet (€)", null=True, blank=True)
    position = models.PositiveSmallIntegerField("ordre", default=0)
    amendment_number = models.PositiveSmallIntegerField(
        "créé par l'avenant n°", null=True, blank=True
    )

    class Meta:
        verbose_name = "volet"
        ordering = ["contract", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "code"], name="volet_code_unique"),
            models.CheckConstraint(
                condition=models.Q(end_year__gte=models.F("start_year")), name="volet_period"
            ),
            models.CheckConstraint(
                condition=models.Q(envelope__isnull=True) | models.Q(envelope__gte=0),
                name="volet_envelope_pos",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def years(self) -> range:
        return range(self.start_year, self.end_year + 1)


# -- end volets --
