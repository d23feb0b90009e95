"""Forms of the closings pages: arrêter a date, write an axis's commentary. They only parse; the
services check the rules and the permission again."""

from __future__ import annotations

import datetime as dt

from django import forms
from dsfr.forms import DsfrBaseForm


def _last_year_end() -> dt.date:
    return dt.date(dt.date.today().year - 1, 12, 31)


class ClosingForm(DsfrBaseForm):
    at = forms.DateField(
        label="Arrêter la situation au",
        help_text="Format : AAAA-MM-JJ (le plus souvent le 31 décembre de l'année écoulée).",
        widget=forms.DateInput(attrs={"type": "date"}),
        initial=_last_year_end,
    )
    label = forms.CharField(
        label="Libellé (facultatif)",
        help_text="Pour arrêter de nouveau une date déjà arrêtée (ex. « rectificatif »).",
        max_length=120,
        required=False,
    )


class CommentForm(DsfrBaseForm):
    axis = forms.IntegerField(widget=forms.HiddenInput)
    text = forms.CharField(
        label="Commentaire de l'axe", widget=forms.Textarea(attrs={"rows": 5}), max_length=20000
    )
