"""The columns the importers know, the French headers the exports write, and the financers a
wide spreadsheet names in its column headers ("Part État", "Part Région", "Département",
"FEDER"…). The exports write each field's `label`, so every export reads back.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from cper.io.headers import fold
from cper.io.readers import FieldSpec, Vocabulary, financer_text, normalize
from cper.operations.rules import state_operator_label

# --- operations and their co-financing plans -------------------------------------------------

OPERATION_FIELDS = (
    FieldSpec(
        "reference",
        "Référence du partenaire",
        (
            "Référence",
            "Référence externe",
            "Référence du dossier",
            "N° de dossier",
            "N° dossier",
            "Numéro de dossier",
            "Référence partenaire",
            "Réf. dossier",
            "Identifiant du dossier",
        ),
    ),
    FieldSpec(
        "code",
        "N° d'opération",
        ("N° opération", "Numéro d'opération", "Numéro de l'opération", "Code opération", "Code"),
    ),
    FieldSpec(
        "title",
        "Intitulé de l'opération",
        (
            "Intitulé",
            "Libellé",
            "Libellé de l'opération",
            "Nom de l'opération",
            "Intitulé du projet",
            "Nom du projet",
            "Opération",
            "Projet",
        ),
    ),
    FieldSpec("description", "Description", ("Description de l'opération", "Résumé")),
    FieldSpec(
        "owner_name",
        "Maître d'ouvrage",
        (
            "Maitre d'ouvrage",
            "Maîtrise d'ouvrage",
            "MOA",
            "Porteur de projet",
            "Porteur",
            "Bénéficiaire",
            "Nom du bénéficiaire",
            "Nom du maître d'ouvrage",
            "Raison sociale",
        ),
    ),
    FieldSpec(
        "owner_siret",
        "N° SIRET",
        (
            "SIRET",
            "Numéro SIRET",
            "SIRET du maître d'ouvrage",
            "SIRET du bénéficiaire",
            "SIRET bénéficiaire",
            "N° SIRET du maître d'ouvrage",
        ),
    ),
    FieldSpec("owner_rna", "N° RNA", ("RNA", "Numéro RNA", "N° RNA du maître d'ouvrage")),
    FieldSpec(
        "owner_category",
        "Catégorie juridique",
        ("Catégorie juridique du maître d'ouvrage", "Statut juridique", "Type de maître d'ouvrage"),
    ),
    FieldSpec(
        "communes",
        "Code INSEE",
        (
            "Codes INSEE",
            "Code INSEE de la commune",
            "Code commune",
            "Codes communes",
            "Commune (code INSEE)",
            "Communes (codes INSEE)",
            "INSEE",
            "Localisation (code INSEE)",
        ),
    ),
    FieldSpec(
        "objective",
        "Objectif",
        ("Code objectif", "Objectif du CPER", "N° objectif", "Objectif principal", "Objectif CPER"),
    ),
    # The third level of the structure (issue 12): an action of the main objective, by code.
    FieldSpec("action", "Action", ("Code action", "Sous-objectif", "Type d'action")),
    FieldSpec("status", "Statut", ("Statut de l'opération", "État d'avancement", "Avancement")),
    FieldSpec(
        "start_date",
        "Début prévu",
        ("Date de début", "Début", "Date de démarrage", "Début des travaux"),
    ),
    FieldSpec("end_date", "Fin prévue", ("Date de fin", "Fin", "Date d'achèvement")),
    FieldSpec(
        "cost_ht",
        "Coût total HT",
        ("Coût HT", "Montant HT", "Coût total", "Coût éligible HT", "Dépense éligible HT"),
    ),
    FieldSpec("cost_ttc", "Coût total TTC", ("Coût TTC", "Montant TTC", "Coût éligible TTC")),
    FieldSpec("cost_base", "Assiette", ("Assiette du financement", "Base HT/TTC", "HT/TTC")),
    FieldSpec(
        "committee_date",
        "Date du comité de programmation",
        ("Comité de programmation", "Date de programmation", "Date du comité", "Programmée le"),
    ),
    # long layout: one row per financing line
    FieldSpec(
        "financer_kind", "Type de financeur", ("Nature du financeur", "Catégorie de financeur")
    ),
    FieldSpec(
        "financer",
        "Financeur",
        ("Partenaire", "Partenaire financeur", "Cofinanceur", "Nom du financeur", "Financeurs"),
    ),
    FieldSpec("line_rank", "Rang de la ligne", ("Rang",)),
    FieldSpec(
        "amount",
        "Montant",
        (
            "Montant programmé",
            "Montant de la ligne",
            "Montant attribué",
            "Montant de la subvention",
            "Participation",
            "Subvention",
        ),
    ),
    FieldSpec("line_objective", "Objectif de la ligne", ("Objectif imputé",)),
    FieldSpec(
        "contractualised",
        "Contractualisé",
        ("Contractualisée", "Part contractualisée", "Dans la maquette", "Contractualisation"),
    ),
    # contractualisé / valorisé / co-financement: written by the exports, derived on import
    # from the financer's kind and the contractualised flag (`rules.line_category`).
    FieldSpec("line_category", "Catégorie de la ligne", ("Catégorie CPER",)),
    FieldSpec("budget_nature", "Nature budgétaire", ("Nature des crédits",)),
    FieldSpec("programme", "Programme LOLF", ("Programme", "Programme budgétaire")),
    # The State's BOP and activity (Chorus codes) of the line's programme (issue 12).
    FieldSpec("bop", "BOP", ("Budget opérationnel de programme", "BOP Chorus", "Code BOP")),
    FieldSpec("activity", "Activité", ("Activité Chorus", "Code activité")),
    FieldSpec("year", "Année", ("Année de programmation", "Exercice", "Millésime")),
    FieldSpec(
        "line_ref",
        "Référence de la ligne",
        ("Référence du financeur", "Référence financeur", "Réf. financeur"),
    ),
    # The partner's decision in force on the line (issue 12: arrêté attributif, délibération
    # of the commission permanente…): exported, and recorded on import when a date is given.
    FieldSpec("decision_kind", "Décision : nature", ("Nature de l'acte", "Nature de la décision")),
    FieldSpec("decision_body", "Décision : instance", ("Instance de décision",)),
    FieldSpec("decision_date", "Décision : date", ("Date de la décision", "Date de l'acte")),
    FieldSpec("decision_ref", "Décision : référence", ("Référence de l'acte",)),
    FieldSpec("decision_amount", "Décision : montant", ("Montant décidé",)),
    FieldSpec("decision_outcome", "Décision : sens", ("Sens de la décision",)),
)

# --- movements ---------------------------------------------------------------------------------

MOVEMENT_FIELDS = (
    OPERATION_FIELDS[0],  # reference
    OPERATION_FIELDS[1],  # code
    OPERATION_FIELDS[2],  # title: shown to people, not read
    FieldSpec(
        "financer_kind", "Type de financeur", ("Nature du financeur", "Catégorie de financeur")
    ),
    FieldSpec("financer", "Financeur", ("Partenaire", "Partenaire financeur", "Cofinanceur")),
    FieldSpec("line_rank", "Rang de la ligne", ("Rang",)),
    FieldSpec(
        "line_ref",
        "Référence de la ligne",
        ("Référence du financeur", "Référence financeur", "Réf. financeur"),
    ),
    FieldSpec(
        "kind",
        "Nature du mouvement",
        ("Nature", "Type de mouvement", "Type d'opération comptable", "Sens"),
    ),
    FieldSpec(
        "date",
        "Date",
        (
            "Date du mouvement",
            "Date comptable",
            "Date d'engagement",
            "Date de paiement",
            "Date de mandatement",
            "Date de l'EJ",
            "Date de pièce",
        ),
    ),
    FieldSpec("amount", "Montant", ("Montant du mouvement", "Montant (€)")),
    FieldSpec(
        "committed",
        "Montant engagé",
        ("Engagé", "Montant de l'EJ", "AE engagées", "Montant AE engagées", "Engagement"),
    ),
    FieldSpec("decommitted", "Montant désengagé", ("Désengagé", "Désengagement")),
    FieldSpec(
        "paid",
        "Montant payé",
        (
            "Montant mandaté",
            "Payé",
            "Mandaté",
            "CP payés",
            "CP consommés",
            "Montant versé",
            "Paiement",
        ),
    ),
    FieldSpec(
        "movement_ref",
        "N° EJ ou de mandat",
        (
            "N° EJ",
            "Numéro d'EJ",
            "Numéro EJ",
            "N° engagement juridique",
            "N° d'engagement",
            "N° de mandat",
            "Numéro de mandat",
            "N° d'affectation",
            "Référence du mouvement",
            "Référence comptable",
            "N° pièce",
            "Pièce",
        ),
    ),
    FieldSpec(
        "cancels_ref",
        "N° du mouvement annulé",
        (
            "Mouvement annulé",
            "Référence du mouvement annulé",
            "N° de mandat annulé",
            "Mandat annulé",
            "N° EJ désengagé",
            "EJ désengagé",
        ),
    ),
    FieldSpec("note", "Commentaire", ("Note", "Observations")),
)

OPERATIONS = Vocabulary(OPERATION_FIELDS)
MOVEMENTS = Vocabulary(MOVEMENT_FIELDS)

# Headers our own files carry that are not data (the rejected-rows file's error column).
ERROR_COLUMN = "Erreur"

MOVEMENT_KINDS = {
    "engagement": "commitment",
    "engagement juridique": "commitment",
    "ej": "commitment",
    "commitment": "commitment",
    "desengagement": "decommitment",
    "retrait d engagement": "decommitment",
    "decommitment": "decommitment",
    "paiement": "payment",
    "paiement mandatement": "payment",
    "mandatement": "payment",
    "mandat": "payment",
    "versement": "payment",
    "payment": "payment",
    "annulation de paiement": "payment_cancellation",
    "annulation de mandat": "payment_cancellation",
    "reduction de mandat": "payment_cancellation",
    "reversement": "payment_cancellation",
    "payment cancellation": "payment_cancellation",
    # AP/CP chain of local authorities (an affectation is not an engagement: its own kind)
    "affectation": "affectation",
    "affectation d ap": "affectation",
    "affectation ap": "affectation",
    "desaffectation": "desaffectation",
    "desaffectation d ap": "desaffectation",
    "desaffectation ap": "desaffectation",
}

# Statuses as registers write them, any case, gender or number (`status_key` folds them:
# « Programmé », « programmées », « PROGRAMMEE » are one word).
STATUS_WORDS = {
    "brouillon": "draft",
    "en preparation": "draft",
    "deposee": "submitted",
    "demande deposee": "submitted",
    "recue": "submitted",
    "en instruction": "under_review",
    "a l instruction": "under_review",
    "instruction": "under_review",
    "en cours d instruction": "under_review",
    "programmee": "programmed",
    "validee": "programmed",
    "approuvee": "programmed",
    "accordee": "programmed",
    "attribuee": "programmed",
    "en cours": "in_progress",
    "en cours de realisation": "in_progress",
    "en realisation": "in_progress",
    "en travaux": "in_progress",
    "demarree": "in_progress",
    "engagee": "in_progress",
    "achevee": "completed",
    "terminee": "completed",
    "realisee": "completed",
    "soldee": "closed",
    "close": "closed",
    "clos": "closed",
    "cloturee": "closed",
    "ajournee": "adjourned",
    "reportee": "adjourned",
    "rejetee": "rejected",
    "refusee": "rejected",
    "abandonnee": "abandoned",
    "annulee": "abandoned",
}


def status_key(text: object) -> str:
    """`« Programmées »` → `programme`: a status word without case, accent, gender or number."""
    return " ".join(fold(t) for t in normalize(text).split())


def status_words(choices: list[tuple[str, str]]) -> dict[str, str]:
    """Every way of writing a status the importer understands → the status: its label, its
    code and the everyday words of `STATUS_WORDS`, folded by `status_key`."""
    out = {status_key(label): value for value, label in choices}
    out.update({status_key(value): value for value, _ in choices})
    out.update({status_key(word): value for word, value in STATUS_WORDS.items()})
    return out


def choice_words(choices: list[tuple[str, str]]) -> dict[str, str]:
    """A field's choices as the importer reads them: their French label or their code,
    folded by `normalize` (« délibération de la commission permanente », « deliberation_cp »)."""
    out = {normalize(str(label)): value for value, label in choices}
    out.update({normalize(value): value for value, _ in choices})
    return out


FINANCER_KIND_WORDS = {
    "partenaire du contrat": "partner",
    "partenaire": "partner",
    "fonds europeen": "eu_fund",
    "fonds europeens": "eu_fund",
    "union europeenne": "eu_fund",
    "autre financement public": "other_public",
    "autres financements publics": "other_public",
    "autofinancement du maitre d ouvrage": "owner",
    "autofinancement": "owner",
    "maitre d ouvrage": "owner",
    "financement prive": "private",
    "prive": "private",
    "operateur de l etat": "state_operator",
    "operateurs de l etat": "state_operator",
    "operateur": "state_operator",
    "banque des territoires": "banque_des_territoires",
    "caisse des depots": "banque_des_territoires",
}
BANQUE_DES_TERRITOIRES = "Banque des Territoires"

EU_FUNDS = {
    "feder": "FEDER",
    "fse": "FSE+",
    "fse+": "FSE+",
    "fse +": "FSE+",
    "feader": "FEADER",
    "ftj": "FTJ",
    "fonds pour une transition juste": "FTJ",
    "feampa": "FEAMPA",
    "ue": "Union européenne",
    "europe": "Union européenne",
    "union europeenne": "Union européenne",
    "fonds europeens": "Union européenne",
}

OWNER_WORDS = {"autofinancement", "maitre d ouvrage", "moa", "autofinancement du maitre d ouvrage"}
_LABELLED = re.compile(
    r"^\s*(autres? financements? publics?|financements? prives?|fonds europeens?)\s*:\s*(.+)$",
    re.IGNORECASE,
)
# « Opérateur de l'État : ADEME », matched on the text without accents (issue 12).
_OPERATOR_LABELLED = re.compile(r"^\s*operateurs? de l\W?etat\s*:\s*(.+)$", re.IGNORECASE)


def _unaccented(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@dataclass(frozen=True)
class Financer:
    """Who pays a line: a contract partner, an EU fund, another public body, the owner, a
    private party. `dynamic` ("departement"/"epci") means "the partner of the operation's
    territory", resolved row by row."""

    kind: str
    partner_id: int | None = None
    label: str = ""
    dynamic: str = ""

    @property
    def key(self) -> tuple[str, int | None, str]:
        if self.partner_id or self.kind == "owner":
            return (self.kind, self.partner_id, "")
        return (self.kind, None, normalize(self.label))


class FinancerDirectory:
    """Resolves the financer names of a contract's files to `Financer`s."""

    def __init__(self, partners: list[Any]):
        self.partners = {p.pk: p for p in partners}
        self._alias: dict[str, int] = {}
        by_kind: dict[str, list[Any]] = {}
        for p in partners:
            by_kind.setdefault(p.kind, []).append(p)
            names = {p.code, p.name, p.short_name, f"part {p.short_name or p.name}"}
            if p.kind == "departement" and p.insee_code:
                code = p.insee_code
                names |= {code, f"cd{code}", f"cd {code}", f"departement {code}", f"dep {code}"}
                for prefix in ("departement", "conseil departemental"):
                    names |= {f"{prefix} {p.short_name}", f"{prefix} du {p.short_name}"}
            for n in names:
                if n:
                    self._alias.setdefault(normalize(n), p.pk)
        self.by_kind = by_kind
        for word, kind in (
            ("etat", "state"),
            ("l etat", "state"),
            ("region", "region"),
            ("conseil regional", "region"),
        ):
            if len(by_kind.get(kind, [])) == 1:
                self._alias.setdefault(word, by_kind[kind][0].pk)
        self._dynamic = {}
        if by_kind.get("departement"):
            for w in ("departement", "conseil departemental", "cd", "departements"):
                self._dynamic[w] = "departement"
        if by_kind.get("epci"):
            for w in ("epci", "metropole", "intercommunalite", "agglomeration"):
                self._dynamic[w] = "epci"

    def resolve(self, text: str, kind: str | None = None) -> Financer | None:
        """`État`, `Part Région`, `Nord`, `CD59`, `FEDER`, `Autofinancement`,
        `Autre financement public : ADEME`… → a Financer; None when unknown."""
        raw = (text or "").strip()
        if not raw:
            return None
        if kind and kind != "partner":
            label = raw
            if kind == "eu_fund":
                label = EU_FUNDS.get(normalize(raw), raw)
            if kind == "state_operator":
                label = state_operator_label(raw) or raw
            return Financer(kind=kind, label=label)
        op = _OPERATOR_LABELLED.match(_unaccented(raw))
        if op and not kind:
            name = raw[raw.index(":") + 1 :].strip()
            return Financer(kind="state_operator", label=state_operator_label(name) or name)
        if not kind and normalize(raw) in {"banque des territoires", "caisse des depots"}:
            return Financer(kind="banque_des_territoires", label=BANQUE_DES_TERRITOIRES)
        if not kind and state_operator_label(raw):
            return Financer(kind="state_operator", label=state_operator_label(raw) or raw)
        m = _LABELLED.match(raw)
        if m and not kind:
            head = normalize(m.group(1))
            k = (
                "eu_fund"
                if head.startswith("fonds")
                else ("other_public" if head.startswith("autre") else "private")
            )
            return Financer(kind=k, label=m.group(2).strip())
        norm, _ = financer_text(raw)
        full = normalize(raw)
        for candidate in (full, norm):
            if candidate in self._alias:
                return Financer(kind="partner", partner_id=self._alias[candidate])
        if kind == "partner":
            return None
        for candidate in (full, norm):
            if candidate in self._dynamic:
                return Financer(kind="partner", dynamic=self._dynamic[candidate])
            if candidate in EU_FUNDS:
                return Financer(kind="eu_fund", label=EU_FUNDS[candidate])
            if candidate in OWNER_WORDS:
                return Financer(kind="owner", label="")
        return None

    def is_financer(self, text: str) -> bool:
        return self.resolve(text) is not None

    def for_territory(
        self, financer: Financer, *, departement_code: str | None, epci_siren: str | None
    ) -> Financer | None:
        """A dynamic financer ("Département") made concrete for an operation's territory."""
        if not financer.dynamic:
            return financer
        if financer.dynamic == "departement":
            for p in self.by_kind.get("departement", []):
                if departement_code and p.insee_code == departement_code:
                    return Financer(kind="partner", partner_id=p.pk)
            return None
        for p in self.by_kind.get("epci", []):
            if epci_siren and p.siren == epci_siren:
                return Financer(kind="partner", partner_id=p.pk)
        return None

    def label(self, financer: Financer) -> str:
        """The name our exports write for a financer (it resolves back to the same)."""
        if financer.partner_id:
            p = self.partners[financer.partner_id]
            return str(p.short_name or p.name)
        if financer.kind == "owner":
            return "Autofinancement"
        if financer.kind == "eu_fund":
            return (
                financer.label
                if normalize(financer.label) in EU_FUNDS
                else (f"Fonds européen : {financer.label}")
            )
        if financer.kind == "other_public":
            return f"Autre financement public : {financer.label}"
        if financer.kind == "state_operator":
            return f"Opérateur de l'État : {financer.label}"
        if financer.kind == "banque_des_territoires":
            return BANQUE_DES_TERRITOIRES
        return f"Financement privé : {financer.label}"

    def column(self, financer: Financer, rank: int = 1) -> str:
        """The header of a wide layout's column: `Part État`, `FEDER`, `Part Nord (2)`."""
        base = self.label(financer)
        if financer.partner_id:
            base = f"Part {base}"
        return base if rank == 1 else f"{base} ({rank})"
