"""The execution ledger: commitments, decommitments, payments and cancellations on financing
lines. Movements are appended, never edited or deleted; a correction is a new movement.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from cper.audit.models import Via
from cper.db import AppendOnly, MoneyField, Provenance


class MovementKind(models.TextChoices):
    COMMITMENT = "commitment", "engagement"
    DECOMMITMENT = "decommitment", "désengagement"
    PAYMENT = "payment", "paiement (mandatement)"
    PAYMENT_CANCELLATION = "payment_cancellation", "annulation de paiement"
    # AP/CP chain of local authorities: part of an AP earmarked for the line, or released.
    AFFECTATION = "affectation", "affectation d'AP"
    DESAFFECTATION = "desaffectation", "désaffectation"


class LedgerImmutable(Exception):
    """Raised on any attempt to edit or delete a recorded movement."""

    def __init__(self) -> None:
        super().__init__(
            "un mouvement enregistré ne se modifie ni ne se supprime : enregistrez un mouvement "
            "correctif (désengagement, annulation de paiement)"
        )


class Movement(AppendOnly):
    financing_line = models.ForeignKey(
        "operations.FinancingLine", on_delete=models.PROTECT, related_name="movements"
    )
    kind = models.CharField("nature", max_length=22, choices=MovementKind.choices)
    date = models.DateField("date")
    amount = MoneyField("montant (€)")  # always positive: the kind gives the sign
    reference = models.CharField("référence (n° EJ, d'affectation, de mandat)", max_length=60)
    cancels = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cancellations",
        verbose_name="mouvement annulé",
    )
    via = models.CharField("chemin", max_length=10, choices=Via.choices, default=Via.WEB)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    note = models.CharField("note", max_length=300, blank=True)

    immutable = LedgerImmutable

    class Meta:
        verbose_name = "mouvement"
        ordering = ["financing_line", "date", "id"]
        indexes = [
            models.Index(fields=["financing_line", "date"]),
            # The API lists movements in (date, id) order, by keyset: an index walk (issue 14);
            # it also serves every filter on the date alone.
            models.Index(fields=["date", "id"], name="finance_mov_date_id_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="movement_amount_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference} {self.amount} € ({self.date})"

    @property
    def signed_committed(self):  # type: ignore[no-untyped-def]
        if self.kind == MovementKind.COMMITMENT:
            return self.amount
        if self.kind == MovementKind.DECOMMITMENT:
            return -self.amount
        return 0

    @property
    def signed_affected(self):  # type: ignore[no-untyped-def]
        if self.kind == MovementKind.AFFECTATION:
            return self.amount
        if self.kind == MovementKind.DESAFFECTATION:
            return -self.amount
        return 0

    @property
    def signed_paid(self):  # type: ignore[no-untyped-def]
        if self.kind == MovementKind.PAYMENT:
            return self.amount
        if self.kind == MovementKind.PAYMENT_CANCELLATION:
            return -self.amount
        return 0


# -- maintained summaries ------------------------------------------------------------------------
# Written only by `cper.finance.summaries` (in the transaction of the write that changes them) and
# recomputed from the ledger by `cper execution rebuild-summaries`. Amounts are integer cents:
# integer sums are exact on every database (SQLite stores NUMERIC as floating point).


class LineState(models.Model):
    """Finance's view of one financing line: what it counts as, and its cumulative amounts.

    `counted` lines (contractualised, with a contract partner) are the ones the execution
    figures add up; `programmed` is the line's amount while the line is active and its operation
    is in a programmed status (else 0), dated `programmed_on` (see docs/finance.md).
    """

    line = models.OneToOneField(
        "operations.FinancingLine",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="execution_state",
    )
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    operation = models.ForeignKey(
        "operations.Operation", on_delete=models.CASCADE, related_name="+"
    )
    partner = models.ForeignKey(
        "contracts.Partner",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    objective = models.ForeignKey(
        "contracts.Objective", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    departement = models.CharField(max_length=3, blank=True)  # INSEE code, "" when unknown
    epci = models.CharField(max_length=9, blank=True)  # SIREN, "" when unknown
    status = models.CharField(max_length=14)  # the operation's current status
    counted = models.BooleanField()
    programmed = models.BigIntegerField(default=0)  # cents
    programmed_on = models.DateField(null=True, blank=True)
    committed = models.BigIntegerField(default=0)  # cents, every movement whatever its date
    paid = models.BigIntegerField(default=0)  # cents
    # Net AP affected to the line (affectations − désaffectations), cents: local authorities'
    # AP/CP chain (localchain).
    affected = models.BigIntegerField(default=0, db_default=0)
    # How many movements the line holds (every kind, whatever their date): the API's movement
    # list counts its first page by summing these instead of scanning the whole ledger.
    movements = models.PositiveIntegerField(default=0, db_default=0)
    # The dates the caducité alert starts from (`finance.selectors.lines_near_caducity`): the
    # line's last payment (mandatement), its first affectation or commitment; null without any.
    paid_on = models.DateField(null=True, blank=True)
    opened_on = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = "état d'exécution d'une ligne"
        indexes = [
            models.Index(fields=["contract", "counted", "departement"]),
            models.Index(fields=["contract", "counted", "epci"]),
            models.Index(fields=["contract", "counted", "status"]),
        ]


class LineTag(models.Model):
    """A multi-valued dimension of a line: its operation's markers and project territories."""

    MARKER = "marker"
    TERRITORY = "territory"

    state = models.ForeignKey(LineState, on_delete=models.CASCADE, related_name="tags")
    kind = models.CharField(max_length=10)  # marker | territory
    value = models.CharField(max_length=50)  # the marker's or the territory's code

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["state", "kind", "value"], name="line_tag_unique")
        ]
        indexes = [models.Index(fields=["kind", "value"])]


class OperationTotal(models.Model):
    """An operation's contractualised amount (its active contractualised lines, whoever the
    financer), in cents: what the register sorts by amount on, along the index below instead
    of summing the lines of every operation per request. One row per operation, kept by the
    summaries (`lines_sync`, `rebuild`) in the transaction of the write, like the line states."""

    operation = models.OneToOneField(
        "operations.Operation",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="amount_total",
    )
    contract = models.ForeignKey(
        "contracts.Contract",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    contractualised = models.BigIntegerField(default=0)  # cents

    class Meta:
        verbose_name = "montant contractualisé d'une opération"
        indexes = [
            models.Index(
                fields=["contract", "contractualised", "operation"], name="operation_total_sort"
            )
        ]


class ExecutionCell(models.Model):
    """Net amounts (cents) per contract × dimension × partner × objective × period.

    `grain` is Y (period = 1 January), M (first of the month) or D (the day). `dim` is ""
    (every counted line), "departement", "marker" or "territory", with `value` the code (a
    line with two markers is in both marker cells). Programmed amounts are dated by the line's
    programming date, commitments and payments by their movement's date.
    """

    # Derived rows, rebuilt in bulk: no database-level foreign keys nor single-column indexes
    # (the unique index leads with the contract; deletions cascade through the ORM).
    contract = models.ForeignKey(
        "contracts.Contract",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    grain = models.CharField(max_length=1)
    dim = models.CharField(max_length=12, blank=True)
    value = models.CharField(max_length=50, blank=True)
    period = models.DateField()
    year = models.PositiveSmallIntegerField()
    partner = models.ForeignKey(
        "contracts.Partner",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    objective = models.ForeignKey(
        "contracts.Objective",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    programmed = models.BigIntegerField(default=0)
    committed = models.BigIntegerField(default=0)
    paid = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "agrégat d'exécution"
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "grain", "dim", "value", "period", "partner", "objective"],
                name="execution_cell_unique",
            )
        ]


# -- issue 12: the State's budget chain (AE mises en place) --------------------------------------


class AeKind(models.TextChoices):
    """An AE mise en place adds to the credits delegated; a withdrawal (a correction, or credits
    taken back by the ministry) takes some away. The amount stays positive, as a movement's: the
    kind gives the sign, and the withdrawal says why in its note."""

    DELEGATION = "delegation", "mise en place"
    WITHDRAWAL = "withdrawal", "retrait"


class AeImmutable(Exception):
    """Raised on any attempt to edit or delete a recorded AE mise en place."""

    def __init__(self) -> None:
        super().__init__(
            "une mise en place d'AE enregistrée ne se modifie ni ne se supprime : enregistrez "
            "un retrait"
        )


class AeMiseEnPlace(AppendOnly):
    """AE (autorisations d'engagement) delegated by a ministry to the region for a LOLF programme,
    a BOP and a year: what the State's services may commit on the contract. Recorded beside the
    contract, appended, never edited (a correction is a withdrawal)."""

    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.PROTECT, related_name="ae_mises_en_place"
    )
    programme = models.ForeignKey(
        "contracts.BudgetProgramme",
        on_delete=models.PROTECT,
        related_name="ae_mises_en_place",
        verbose_name="programme LOLF",
    )
    bop = models.CharField("BOP", max_length=30, null=True, blank=True)
    year = models.PositiveSmallIntegerField("exercice")
    kind = models.CharField("nature", max_length=10, choices=AeKind.choices)
    amount = MoneyField("montant (€)")  # always positive: the kind gives the sign
    date = models.DateField("date")
    reference = models.CharField("référence (notification, délégation)", max_length=60)
    note = models.CharField("note", max_length=300, blank=True)
    provenance = models.CharField(
        "provenance", max_length=16, choices=Provenance.choices, default=Provenance.OFFICIAL
    )
    via = models.CharField("chemin", max_length=10, choices=Via.choices, default=Via.WEB)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    immutable = AeImmutable

    class Meta:
        verbose_name = "AE mise en place"
        verbose_name_plural = "AE mises en place"
        ordering = ["contract", "programme", "year", "date", "id"]
        indexes = [models.Index(fields=["contract", "programme", "year"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="ae_mep_amount_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference} {self.amount} € ({self.year})"

    @property
    def signed_amount(self):  # type: ignore[no-untyped-def]
        return self.amount if self.kind == AeKind.DELEGATION else -self.amount


# -- end of issue 12: the State's budget chain ---------------------------------------------------
