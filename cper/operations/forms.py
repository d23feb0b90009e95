"""Forms of the register's pages (DSFR). They parse and present; the services validate and write.

`apply_service_errors(form, exc)` puts a service's `ValidationError` (keyed by model field) on the
form's matching inputs, so each message appears next to the field it names.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from dsfr.forms import DsfrBaseForm

from cper.contracts.models import (
    BudgetNature,
    BudgetProgramme,
    Contract,
    Marker,
    Objective,
    Partner,
)
from cper.findings import errors_only
from cper.money import MoneyError, to_money
from cper.operations import rules
from cper.operations.models import (
    CommitteeKind,
    CostBase,
    DecisionOutcome,
    FinancerKind,
    FinancingLine,
    LegalCategory,
    Operation,
    OperationStatus,
)
from cper.operations.selectors import owner_find
from cper.territories.models import Commune


class MoneyInput(forms.CharField):
    """An amount typed the French way (`1 234 567,89`) or plainly; never a float."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        value = super().to_python(value)
        if value in (None, ""):
            return None
        try:
            return to_money(value)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def apply_service_errors(
    form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None
) -> None:
    """Attach a service's errors to the form's fields (or to the form, for unknown keys)."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        name = aliases.get(key, key)
        if name in form.fields:
            form.add_error(name, messages)
        else:
            label = key if key != "__all__" else ""
            form.add_error(None, [f"{label} : {m}" if label else m for m in messages])


class OperationForm(DsfrBaseForm):
    title = forms.CharField(label="Intitulé", max_length=400)
    description = forms.CharField(label="Description", widget=forms.Textarea, required=False)
    owner_identifier = forms.CharField(
        label="Maître d'ouvrage : SIRET ou numéro RNA",
        help_text="14 chiffres (SIRET) ou W suivi de 9 caractères (RNA). "
        "Un maître d'ouvrage inconnu se crée d'abord.",
        max_length=20,
    )
    objective = forms.ModelChoiceField(
        label="Objectif principal", queryset=Objective.objects.none()
    )
    secondary_objectives = forms.ModelMultipleChoiceField(
        label="Objectifs secondaires",
        queryset=Objective.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    communes = forms.CharField(
        label="Communes (codes INSEE)",
        help_text="Séparés par des virgules ; la première donne le département et l'EPCI "
        "(ex. 80021, 80001).",
        required=False,
    )
    markers = forms.ModelMultipleChoiceField(
        label="Marqueurs",
        queryset=Marker.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    start_date = forms.DateField(label="Début prévu", required=False, widget=DateInput())
    end_date = forms.DateField(label="Fin prévue", required=False, widget=DateInput())
    cost_ht = MoneyInput(label="Coût total HT (€)", required=False)
    cost_ttc = MoneyInput(label="Coût total TTC (€)", required=False)
    cost_base = forms.ChoiceField(
        label="Assiette du financement", choices=CostBase.choices, initial=CostBase.HT
    )
    physical_progress = forms.CharField(
        label="Avancement physique", widget=forms.Textarea, required=False
    )
    published = forms.BooleanField(label="Publiée (visible du public)", required=False)

    ALIASES = {"owner": "owner_identifier"}

    def __init__(self, *args: Any, contract: Contract, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contract = contract
        objectives = Objective.objects.filter(contract=contract).select_related("axis")
        self.fields["objective"].queryset = objectives  # type: ignore[attr-defined]
        self.fields["secondary_objectives"].queryset = objectives  # type: ignore[attr-defined]
        self.fields["markers"].queryset = Marker.objects.filter(contract=contract)  # type: ignore[attr-defined]
        self.fields["objective"].label_from_instance = lambda o: f"{o.code} — {o.title}"  # type: ignore[attr-defined]
        self.fields["secondary_objectives"].label_from_instance = lambda o: f"{o.code} — {o.title}"  # type: ignore[attr-defined]

    @classmethod
    def initial_for(cls, op: Operation) -> dict[str, Any]:
        return {
            "title": op.title,
            "description": op.description,
            "owner_identifier": op.owner.siret or op.owner.rna,
            "objective": op.objective_id,
            "secondary_objectives": list(op.secondary_objectives.values_list("pk", flat=True)),
            "communes": ", ".join(
                op.operationcommune_set.order_by("position").values_list("commune_id", flat=True)
            ),
            "markers": list(op.markers.values_list("pk", flat=True)),
            "start_date": op.start_date,
            "end_date": op.end_date,
            "cost_ht": op.cost_ht,
            "cost_ttc": op.cost_ttc,
            "cost_base": op.cost_base,
            "physical_progress": op.physical_progress,
            "published": op.published,
        }

    def clean_owner_identifier(self) -> Any:
        value = self.cleaned_data["owner_identifier"]
        owner = owner_find(identifier=value)
        if owner is None:
            raise ValidationError(
                f"aucun maître d'ouvrage n'a le SIRET ou le numéro RNA « {value} » : "
                "créez-le d'abord"
            )
        return owner

    def clean_communes(self) -> list[str]:
        raw = self.cleaned_data.get("communes") or ""
        return [c.strip() for c in raw.replace(";", ",").replace(" ", ",").split(",") if c.strip()]

    def clean(self) -> dict[str, Any]:
        """The register's rules, so that every error shows at once (the service checks again)."""
        data = super().clean() or {}
        findings = rules.operation_errors(
            title=data.get("title") or "-",
            start_date=data.get("start_date"),
            end_date=data.get("end_date"),
            cost_ht=data.get("cost_ht"),
            cost_ttc=data.get("cost_ttc"),
            cost_base=data.get("cost_base") or "ht",
        )
        codes = data.get("communes") or []
        if codes and "communes" not in self.errors:
            found = dict(
                Commune.objects.filter(code__in=codes).values_list("code", "departement__region_id")
            )
            findings += rules.commune_errors(
                requested=codes, found=found, region_code=self.contract.region_id
            )
        for f in errors_only(findings):
            if f.field in self.fields and f.field not in self.errors:
                self.add_error(f.field, f.message)
        return data

    def service_values(self) -> dict[str, Any]:
        d = dict(self.cleaned_data)
        d["owner"] = d.pop("owner_identifier")
        return d


class OwnerForm(DsfrBaseForm):
    name = forms.CharField(label="Nom", max_length=300)
    legal_category = forms.ChoiceField(label="Catégorie juridique", choices=LegalCategory.choices)
    siret = forms.CharField(label="SIRET", max_length=20, required=False)
    rna = forms.CharField(
        label="Numéro RNA (associations)", max_length=12, required=False, help_text="ex. W595012345"
    )
    commune = forms.CharField(label="Commune du siège (code INSEE)", max_length=5, required=False)


class LineForm(DsfrBaseForm):
    financer_kind = forms.ChoiceField(label="Type de financeur", choices=FinancerKind.choices)
    partner = forms.ModelChoiceField(
        label="Partenaire du contrat", queryset=Partner.objects.none(), required=False
    )
    financer_label = forms.CharField(
        label="Financeur (hors partenaires)",
        help_text="FEDER, FSE+, FTJ, ADEME, commune…",
        max_length=200,
        required=False,
    )
    objective = forms.ModelChoiceField(label="Objectif", queryset=Objective.objects.none())
    amount = MoneyInput(label="Montant (€)")
    contractualised = forms.BooleanField(
        label="Contractualisé (compte dans la maquette)", required=False, initial=True
    )
    budget_nature = forms.ChoiceField(
        label="Nature budgétaire", choices=BudgetNature.choices, initial=BudgetNature.AP_CP
    )
    programme = forms.ModelChoiceField(
        label="Programme LOLF (État)", queryset=BudgetProgramme.objects.all(), required=False
    )
    year = forms.IntegerField(label="Année de programmation", required=False)
    external_ref = forms.CharField(label="Référence du financeur", max_length=100, required=False)

    def __init__(
        self,
        *args: Any,
        operation: Operation,
        partners: Any,
        line: FinancingLine | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners  # type: ignore[attr-defined]
        self.fields["objective"].queryset = Objective.objects.filter(  # type: ignore[attr-defined]
            pk__in=[
                operation.objective_id,
                *operation.secondary_objectives.values_list("pk", flat=True),
            ]
        )
        self.fields["objective"].initial = operation.objective_id
        if line is not None:  # the financer of an existing line never changes
            for name in ("financer_kind", "partner"):
                self.fields[name].disabled = True
                self.fields[name].required = False

    @staticmethod
    def initial_for(line: FinancingLine) -> dict[str, Any]:
        return {
            "financer_kind": line.financer_kind,
            "partner": line.partner_id,
            "financer_label": line.financer_label,
            "objective": line.objective_id,
            "amount": line.amount,
            "contractualised": line.contractualised,
            "budget_nature": line.budget_nature,
            "programme": line.programme_id,
            "year": line.year,
            "external_ref": line.external_ref,
        }


class CancelForm(DsfrBaseForm):
    cancel_reason = forms.CharField(label="Motif de l'annulation", widget=forms.Textarea)


class TransitionForm(DsfrBaseForm):
    to_status = forms.ChoiceField(label="Nouveau statut")
    reason = forms.CharField(label="Motif", widget=forms.Textarea, required=False)

    ALIASES = {"status": "to_status"}

    def __init__(self, *args: Any, edges: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [  # type: ignore[attr-defined]
            (e.target, f"{e.label} → {dict(_status_labels())[e.target]}")
            for e in edges
            if not e.needs_decision
        ]


def _status_labels() -> list[tuple[str, str]]:
    return list(OperationStatus.choices)


class CommitteeForm(DsfrBaseForm):
    kind = forms.ChoiceField(label="Nature", choices=CommitteeKind.choices)
    date = forms.DateField(label="Date", widget=DateInput())
    place = forms.CharField(label="Lieu", max_length=200, required=False)
    title = forms.CharField(label="Intitulé", max_length=300, required=False)


class AgendaForm(DsfrBaseForm):
    operation_code = forms.CharField(label="Numéro de l'opération à inscrire", max_length=40)

    ALIASES = {"operation": "operation_code"}


class DecisionForm(DsfrBaseForm):
    outcome = forms.ChoiceField(label="Décision", choices=DecisionOutcome.choices)
    notes = forms.CharField(label="Observations", widget=forms.Textarea, required=False)

    def __init__(self, *args: Any, lines: list[FinancingLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_fields: list[tuple[str, FinancingLine]] = []
        for line in lines:
            if not line.partner_id:
                continue
            name = f"line_{line.pk}"
            self.fields[name] = MoneyInput(
                label=f"Montant approuvé — {line.partner} (demandé : {line.amount} €)",
                required=False,
                initial=line.amount,
            )
            self.line_fields.append((name, line))

    def amounts(self) -> dict[FinancingLine, Decimal]:
        out = {}
        for name, line in self.line_fields:
            value = self.cleaned_data.get(name)
            if value is not None:
                out[line] = value
        return out
