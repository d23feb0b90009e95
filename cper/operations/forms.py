"""Forms of the register's pages (DSFR). They parse and present; the services validate and write.

`apply_service_errors(form, exc)` puts a service's `ValidationError` (keyed by model field) on the
form's matching inputs, so each message appears next to the field it names.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict
from dsfr.forms import DsfrBaseForm

from cper.contracts.models import (
    Action,
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
from cper.operations.bulk import OwnerDraft, number_clash, owner_findings
from cper.operations.models import (
    CommitteeKind,
    CostBase,
    DecisionOutcome,
    FinancerKind,
    FinancingLine,
    LegalCategory,
    Operation,
    OperationStatus,
    PartnerDecisionKind,
    PartnerDecisionOutcome,
    ProjectOwner,
)
from cper.operations.selectors import communes_resolve, owner_find
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
    """Attach a service's errors to the form's fields (or to the form, for unknown keys; an
    alias "" puts a key's messages on the form without naming the key)."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        name = aliases.get(key, key)
        if name in form.fields:
            form.add_error(name, messages)
        else:
            label = key if key != "__all__" and name else ""
            form.add_error(None, [f"{label} : {m}" if label else m for m in messages])


class OperationForm(DsfrBaseForm):
    title = forms.CharField(label="Intitulé", max_length=400)
    description = forms.CharField(label="Description", widget=forms.Textarea, required=False)
    owner_mode = forms.ChoiceField(
        label="Le maître d'ouvrage est",
        choices=[
            ("known", "Un maître d'ouvrage déjà connu"),
            ("new", "Un nouveau maître d'ouvrage, créé avec l'opération"),
        ],
        initial="known",
        widget=forms.RadioSelect,
        required=False,
    )
    owner_identifier = forms.CharField(
        label="Maître d'ouvrage : SIRET ou numéro RNA",
        help_text="14 chiffres (SIRET) ou W suivi de 9 caractères (RNA) ; ou cherchez-le "
        "ci-dessous par son nom, son SIRET ou sa commune.",
        max_length=20,
        required=False,
    )
    owner_q = forms.CharField(
        label="Chercher un maître d'ouvrage connu",
        help_text="Nom, début du SIRET ou commune (au moins 2 caractères).",
        max_length=100,
        required=False,
    )
    new_owner_name = forms.CharField(label="Nom", max_length=300, required=False)
    new_owner_legal_category = forms.ChoiceField(
        label="Catégorie juridique",
        choices=[("", "— choisir —"), *LegalCategory.choices],
        required=False,
    )
    new_owner_siret = forms.CharField(label="SIRET", max_length=20, required=False)
    new_owner_rna = forms.CharField(
        label="Numéro RNA (associations)",
        max_length=12,
        required=False,
        help_text="ex. W595012345",
    )
    new_owner_commune = forms.CharField(
        label="Commune du siège",
        help_text="Nom ou code INSEE (ex. Amiens ou 80021).",
        max_length=100,
        required=False,
    )
    objective = forms.ModelChoiceField(
        label="Objectif principal", queryset=Objective.objects.none()
    )
    action = forms.ModelChoiceField(
        label="Action (troisième niveau du contrat)",
        queryset=Action.objects.none(),
        required=False,
        help_text="Une action de l'objectif principal, où le contrat en distingue.",
    )
    secondary_objectives = forms.ModelMultipleChoiceField(
        label="Objectifs secondaires",
        queryset=Objective.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    communes = forms.CharField(
        label="Communes (noms ou codes INSEE)",
        help_text="Séparées par des virgules ; la première donne le département et l'EPCI "
        "(ex. Amiens, Abbeville ou 80021, 80001 ; un nom porté par plusieurs communes : "
        "Saint-Martin (62)).",
        required=False,
    )
    commune_q = forms.CharField(
        label="Chercher une commune",
        help_text="Début du nom ou du code INSEE (au moins 2 caractères).",
        max_length=100,
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
    # A new owner's errors (`bulk.owners_create_many`'s keys) on the inline fieldset.
    NEW_OWNER_ALIASES = {
        "owner": "owner_identifier",
        "name": "new_owner_name",
        "legal_category": "new_owner_legal_category",
        "siret": "new_owner_siret",
        "rna": "new_owner_rna",
        "commune": "new_owner_commune",
    }
    NEW_OWNER_FIELDS = tuple(k for k in NEW_OWNER_ALIASES.values() if k != "owner_identifier")
    # Fields that only help to fill the form: never sent to the service.
    SEARCH_FIELDS = ("owner_q", "commune_q")

    def __init__(
        self, *args: Any, contract: Contract, new_owner: bool = False, **kwargs: Any
    ) -> None:
        data: Any = args[0] if args else kwargs.get("data")
        if hasattr(data, "getlist") and (data.get("owner_choice") or data.getlist("commune_pick")):
            # Without JavaScript, a searched owner is chosen, and searched communes are added,
            # by the radio buttons and check boxes of the re-rendered form.
            data = data.copy()
            if data.get("owner_choice"):
                data["owner_identifier"] = data["owner_choice"]
                data["owner_mode"] = "known"
            picked = [c for c in data.getlist("commune_pick") if c]
            typed = [c.strip() for c in (data.get("communes") or "").split(",") if c.strip()]
            data["communes"] = ", ".join([*typed, *[c for c in picked if c not in typed]])
            if args:
                args = (data, *args[1:])
            else:
                kwargs["data"] = data
        super().__init__(*args, **kwargs)
        self.contract = contract
        self.new_owner = new_owner
        if not new_owner:  # the edit page changes the owner among known ones only
            for name in ("owner_mode", *self.NEW_OWNER_FIELDS):
                del self.fields[name]
        self.fields["owner_q"].widget.attrs.update(
            {"type": "search", "autocomplete": "off", "data-search": "owner"}
        )
        self.fields["commune_q"].widget.attrs.update(
            {"type": "search", "autocomplete": "off", "data-search": "commune"}
        )
        objectives = Objective.objects.filter(contract=contract).select_related("axis")
        self.fields["objective"].queryset = objectives  # type: ignore[attr-defined]
        self.fields["secondary_objectives"].queryset = objectives  # type: ignore[attr-defined]
        self.fields["markers"].queryset = Marker.objects.filter(contract=contract)  # type: ignore[attr-defined]
        self.fields["objective"].label_from_instance = lambda o: f"{o.code} — {o.title}"  # type: ignore[attr-defined]
        self.fields["secondary_objectives"].label_from_instance = lambda o: f"{o.code} — {o.title}"  # type: ignore[attr-defined]
        actions = Action.objects.filter(contract=contract).order_by("code")
        if actions.exists():  # a contract without a third level shows no such field
            self.fields["action"].queryset = actions  # type: ignore[attr-defined]
            self.fields["action"].label_from_instance = lambda a: f"{a.code} — {a.title}"  # type: ignore[attr-defined]
        else:
            del self.fields["action"]

    @classmethod
    def initial_for(cls, op: Operation) -> dict[str, Any]:
        return {
            "title": op.title,
            "description": op.description,
            "owner_identifier": op.owner.siret or op.owner.rna,
            "objective": op.objective_id,
            "action": op.action_id,
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

    def creates_owner(self) -> bool:
        return self.new_owner and self.data.get("owner_mode") == "new"

    def clean_owner_identifier(self) -> Any:
        value = self.cleaned_data["owner_identifier"]
        if self.creates_owner():
            return None
        if not value:
            raise ValidationError(
                "choisissez un maître d'ouvrage connu (SIRET, numéro RNA ou recherche)"
                + (" ou créez-en un nouveau avec l'opération" if self.new_owner else "")
            )
        owner = owner_find(identifier=value)
        if owner is None:
            raise ValidationError(
                f"aucun maître d'ouvrage n'a le SIRET ou le numéro RNA « {value} » : "
                + (
                    "cherchez-le par son nom, ou créez-le avec l'opération"
                    if self.new_owner
                    else "cherchez-le par son nom"
                )
            )
        return owner

    def clean_communes(self) -> list[str]:
        """INSEE codes, from codes or names (COG); an unknown code is left to the rules."""
        raw = (self.cleaned_data.get("communes") or "").replace(";", ",")
        entries: list[str] = []
        for part in raw.split(","):
            words = part.split()
            # "80021 80001": codes separated by spaces, as before names were accepted.
            if len(words) > 1 and all(re.match(r"^(?:\d{5}|2[ABab]\d{3})$", w) for w in words):
                entries += words
            elif words:
                entries.append(" ".join(words))
        resolved = communes_resolve(entries=entries, region_code=self.contract.region_id)
        problems = []
        for e in resolved:
            if e.code is not None:
                continue
            if e.candidates:
                listed = " ; ".join(
                    f"{c.name} ({c.code}, {c.departement.name})" for c in e.candidates[:8]
                )
                more = f" et {len(e.candidates) - 8} autres" if len(e.candidates) > 8 else ""
                problems.append(
                    f"« {e.text} » désigne plusieurs communes : {listed}{more} — écrivez le "
                    "code INSEE de la bonne, ou le nom suivi du département : "
                    f"{e.candidates[0].name} ({e.candidates[0].departement_id})"
                )
            else:
                problems.append(
                    f"commune(s) inconnue(s) : {e.text} (ni un nom de commune ni un code INSEE)"
                )
        if problems:
            raise ValidationError(problems)
        return [e.code for e in resolved if e.code is not None]

    def clean_new_owner_commune(self) -> str | None:
        value = (self.cleaned_data.get("new_owner_commune") or "").strip()
        if not value or not self.creates_owner():
            return value or None
        [entry] = communes_resolve(entries=[value], region_code=self.contract.region_id)
        if entry.code is not None:
            return entry.code
        if entry.candidates:
            listed = " ; ".join(
                f"{c.name} ({c.code}, {c.departement.name})" for c in entry.candidates[:8]
            )
            raise ValidationError(
                f"« {value} » désigne plusieurs communes : {listed} — écrivez le code INSEE"
            )
        raise ValidationError(f"commune inconnue : {value}")

    def owner_draft(self) -> OwnerDraft | None:
        """The owner to create with the operation, checked as the batch service checks it (so
        that its errors show with the operation's), or None."""
        if not self.creates_owner():
            return None
        data = self.cleaned_data
        return OwnerDraft(
            name=data.get("new_owner_name") or "",
            legal_category=data.get("new_owner_legal_category") or "",
            siret=data.get("new_owner_siret") or None,
            rna=data.get("new_owner_rna") or None,
            commune=data.get("new_owner_commune") or None,
        )

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
        if self.creates_owner():
            self._check_new_owner(data)
        return data

    def _check_new_owner(self, data: dict[str, Any]) -> None:
        values: dict[str, Any] = {
            "name": data.get("new_owner_name") or "",
            "legal_category": data.get("new_owner_legal_category") or "",
            "siret": data.get("new_owner_siret"),
            "rna": data.get("new_owner_rna"),
            "commune": None,  # resolved (or refused) by clean_new_owner_commune
        }
        findings = owner_findings(values)
        for key in ("siret", "rna"):
            if values[key] and not any(f.field == key for f in findings):
                other = owner_find(identifier=values[key])
                if other is not None:
                    findings.append(number_clash(key, other.name, other.pk))
        for f in errors_only(findings):
            name = self.NEW_OWNER_ALIASES.get(f.field or "")
            if name and name in self.fields and name not in self.errors:
                self.add_error(name, f.message)

    def chosen_owner(self) -> ProjectOwner | None:
        """The known owner the SIRET / RNA field names, to show its name beside it."""
        if self.creates_owner():
            return None
        return owner_find(identifier=str(self["owner_identifier"].value() or ""))

    def quiet(self) -> OperationForm:
        """The form as typed, without its errors: what a search re-renders (nothing is
        checked until the form is submitted)."""
        self._errors = ErrorDict()
        self.cleaned_data: dict[str, Any] = {}
        return self

    def service_values(self) -> dict[str, Any]:
        d = {
            k: v
            for k, v in self.cleaned_data.items()
            if k not in (*self.SEARCH_FIELDS, "owner_mode", *self.NEW_OWNER_FIELDS)
        }
        d["owner"] = d.pop("owner_identifier")
        draft = self.owner_draft()
        if draft is not None:
            d["owner"] = draft
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
        label="Contractualisé (compte dans la maquette)",
        help_text="Pour la ligne d'un partenaire du contrat seulement : les autres financeurs "
        "ne comptent jamais dans la maquette.",
        required=False,
        initial=True,
    )
    budget_nature = forms.ChoiceField(
        label="Nature budgétaire",
        help_text="Par défaut, celle du partenaire : AE/CP pour l'État, AP/CP pour les "
        "collectivités.",
        choices=[("", "— selon le financeur —"), *BudgetNature.choices],
        required=False,
    )
    programme = forms.ModelChoiceField(
        label="Programme LOLF (État)", queryset=BudgetProgramme.objects.all(), required=False
    )
    bop = forms.CharField(
        label="BOP (État)", help_text="Code Chorus du budget opérationnel de programme",
        max_length=30, required=False,
    )  # fmt: skip
    activity = forms.CharField(
        label="Activité (État)", help_text="Code de l'activité Chorus", max_length=30,
        required=False,
    )  # fmt: skip
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
        # Each partner's own budget nature (the contract file's), which the page's script
        # preselects and the service applies when the field is left "selon le financeur".
        natures = {str(p.pk): p.budget_nature for p in partners}
        self.fields["partner"].widget.attrs["data-budget-natures"] = json.dumps(natures)
        self.fields["financer_kind"].widget.attrs["data-line-kind"] = "1"
        self.fields["contractualised"].widget.attrs["data-contractualised"] = "1"
        if line is None and len(natures) == 1 and not self.is_bound:
            # A partner manager adds its own partner's line: it is the likely one.
            [(pk, nature)] = natures.items()
            self.initial.setdefault("financer_kind", FinancerKind.PARTNER)
            self.initial.setdefault("partner", int(pk))
            self.initial.setdefault("budget_nature", nature)
        self.fields["objective"].queryset = Objective.objects.filter(  # type: ignore[attr-defined]
            pk__in=[
                operation.objective_id,
                *operation.secondary_objectives.values_list("pk", flat=True),
            ]
        )
        self.fields["objective"].initial = operation.objective_id
        if line is not None:  # the nature of an existing line is its own
            self.fields["budget_nature"].choices = BudgetNature.choices  # type: ignore[attr-defined]
            self.fields["budget_nature"].required = True
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
            "bop": line.bop or "",
            "activity": line.activity or "",
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


# -- issue 12: partners' decisions ------------------------------------------------------------


class PartnerDecisionForm(DsfrBaseForm):
    """A partner's decision on its line, from the operation's page; the service validates
    (`services.partner_decision_record`) and its errors go back on the inputs."""

    kind = forms.ChoiceField(label="Nature de l'acte", choices=PartnerDecisionKind.choices)
    body = forms.CharField(
        label="Instance",
        max_length=200,
        required=False,
        help_text="Par exemple : commission permanente du conseil régional",
    )
    date = forms.DateField(label="Date de la décision", widget=DateInput())
    reference = forms.CharField(
        label="Référence",
        max_length=100,
        required=False,
        help_text="N° de délibération, d'arrêté ou de convention",
    )
    outcome = forms.ChoiceField(
        label="Sens", choices=PartnerDecisionOutcome.choices, initial="granted"
    )
    amount = MoneyInput(
        label="Montant décidé (€)", help_text="0 pour un refus ou un retrait; ex. 250 000,00"
    )
    document = forms.FileField(
        label="Acte signé", required=False, help_text="PDF, ODT ou DOCX, 20 Mo au plus"
    )
    notes = forms.CharField(
        label="Observations", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
