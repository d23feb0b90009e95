"""The form that records a movement on a financing line from its operation's page (DSFR).

It parses and presents; `finance.services.movement_record` validates and writes, and its
refusals (`MovementRefused`, each finding naming its field) are put back on the inputs they
name. A hidden idempotency key, drawn when the form is shown, makes a double submission record
one movement.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from dsfr.forms import DsfrBaseForm

from cper.finance.models import AeKind, Movement, MovementKind
from cper.finance.vocabulary import movement_kind_choices
from cper.findings import Finding
from cper.money import format_eur
from cper.operations.forms import DateInput, MoneyInput

# The fields of the ledger's findings that the form shows next to an input; the others
# (financing line, group…) go to the top of the form.
_FIELDS = {"kind", "date", "amount", "reference", "cancels", "note"}


class MovementForm(DsfrBaseForm):
    kind = forms.ChoiceField(label="Nature du mouvement", choices=MovementKind.choices)
    date = forms.DateField(label="Date", widget=DateInput())
    amount = MoneyInput(label="Montant (€)", help_text="Par exemple 12 500,00")
    reference = forms.CharField(
        label="Référence",
        max_length=60,
        help_text="N° d'engagement juridique (EJ), d'affectation ou de mandat",
    )
    cancels = forms.TypedChoiceField(
        label="Paiement annulé",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="Pour une annulation de paiement : le mandat qu'elle corrige",
    )
    note = forms.CharField(label="Note", max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput(), max_length=100)

    def __init__(
        self,
        *args: Any,
        payments: list[Movement],
        budget_nature: str | None = None,
        affectation_required: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", f"web-{uuid.uuid4()}")
        super().__init__(*args, **kwargs)
        # The line's chain's kinds and words: affectation / désaffectation for AP/CP lines.
        self.fields["kind"].choices = movement_kind_choices(  # type: ignore[attr-defined]
            list(MovementKind.choices), budget_nature, affectation_required
        )
        choices: list[tuple[Any, str]] = [("", "—")]
        choices += [
            (m.pk, f"n° {m.pk} — {m.date:%d/%m/%Y} — {format_eur(m.amount)} — {m.reference}")
            for m in payments
        ]
        self.fields["cancels"].choices = choices

    def add_findings(self, findings: list[Finding]) -> None:
        """Put each refusal of the ledger on the input it names."""
        for f in findings:
            self.add_error(f.field if f.field in _FIELDS else None, f.message)


# -- issue 12: the State's budget chain (AE mises en place) --------------------------------------

_AE_FIELDS = {"programme", "bop", "year", "kind", "amount", "date", "reference", "note"}


class AeForm(DsfrBaseForm):
    """An AE mise en place (or a withdrawal) of the State: `finance.services.ae_mise_en_place_
    record` validates and writes; its refusals go back on the inputs they name."""

    programme = forms.ChoiceField(label="Programme LOLF")
    bop = forms.CharField(
        label="BOP", max_length=30, required=False, help_text="Code Chorus du BOP (facultatif)"
    )
    year = forms.IntegerField(label="Exercice", min_value=1990, max_value=2100)
    kind = forms.ChoiceField(label="Nature", choices=AeKind.choices, initial=AeKind.DELEGATION)
    amount = MoneyInput(label="Montant (€)", help_text="Par exemple 1 500 000,00")
    date = forms.DateField(label="Date de la notification", widget=DateInput())
    reference = forms.CharField(label="Référence de la notification", max_length=60)
    note = forms.CharField(
        label="Note", max_length=300, required=False, help_text="Motif, obligatoire pour un retrait"
    )

    def __init__(self, *args: Any, programmes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["programme"].choices = [("", "—"), *programmes]

    def add_findings(self, findings: list[Finding]) -> None:
        for f in findings:
            self.add_error(f.field if f.field in _AE_FIELDS else None, f.message)
