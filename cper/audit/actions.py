"""The closed list of what the audit trail records.

Every entry of the trail names one of these actions; the value is a stable identifier (kept in
the database, filtered on by tests and the API), the label is the French wording shown in an
operation's history and the journal. What varies within an action (the statuses of a
transition, a decision's outcome, the fields changed) lives in the entry's `changes` and
`message`, never in the action itself. Only `cper.audit.services` writes entries.
"""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    # Register (operations app)
    OWNER_CREATED = "owner.created", "maître d'ouvrage créé"
    OWNER_UPDATED = "owner.updated", "maître d'ouvrage modifié"
    OPERATION_CREATED = "operation.created", "opération créée"
    OPERATION_UPDATED = "operation.updated", "opération modifiée"
    OPERATION_STATUS_CHANGED = "operation.status_changed", "changement de statut"
    LINE_ADDED = "line.added", "ligne de financement ajoutée"
    LINE_UPDATED = "line.updated", "ligne de financement modifiée"
    LINE_CANCELLED = "line.cancelled", "ligne de financement annulée"
    LINE_OBJECTIVE_FOLLOWS = (
        "line.objective_follows",
        "ligne de financement : objectif suivant l'opération",
    )
    LINE_APPROVED_AMOUNT = (
        "line.approved_amount",
        "ligne de financement : montant approuvé par le comité",
    )
    COMMITTEE_CREATED = "committee.created", "comité créé"
    COMMITTEE_UPDATED = "committee.updated", "comité modifié"
    AGENDA_ADDED = "committee.agenda_added", "inscrite à l'ordre du jour"
    AGENDA_REMOVED = "committee.agenda_removed", "retirée de l'ordre du jour"
    DECISION_RECORDED = "committee.decision_recorded", "décision du comité"
    # Ledger (finance app)
    MOVEMENT_COMMITMENT = "movement.commitment", "engagement enregistré"
    MOVEMENT_DECOMMITMENT = "movement.decommitment", "désengagement enregistré"
    MOVEMENT_PAYMENT = "movement.payment", "paiement enregistré"
    MOVEMENT_PAYMENT_CANCELLATION = (
        "movement.payment_cancellation",
        "annulation de paiement enregistrée",
    )
    SUMMARIES_REBUILT = "execution.rebuild_summaries", "agrégats d'exécution recalculés"
    # Contract and maquette
    CONTRACT_LOAD_CREATED = "contract_load.created", "créé (chargement du contrat)"
    CONTRACT_LOAD_UPDATED = "contract_load.updated", "modifié (chargement du contrat)"
    CONTRACT_LOAD_DELETED = "contract_load.deleted", "supprimé (chargement du contrat)"
    AMENDMENT_RECORDED = "amendment.recorded", "avenant enregistré"
    AMENDMENT_CHANGE = "amendment.change", "changement d'avenant"
    ALLOCATION_CREATED = "allocation.created", "allocation créée"
    ALLOCATION_UPDATED = "allocation.updated", "allocation modifiée"
    ALLOCATION_DELETED = "allocation.deleted", "allocation supprimée"
    # Reference data, faces and tools
    GEOGRAPHY_LOADED = "geography.loaded", "géographie de référence chargée"
    IMPORT_APPLIED = "import.applied", "import appliqué"
    API_TOKEN_CREATED = "api_token.create", "jeton d'API créé"
    API_TOKEN_REVOKED = "api_token.revoke", "jeton d'API révoqué"
    # -- issue 12: structure (volets, valorised, levels) --
    # -- issue 12: budget chains (State AE/CP, AP affectations) --
    AE_MISE_EN_PLACE = "ae.mise_en_place", "AE mises en place enregistrées"
    AE_WITHDRAWAL = "ae.withdrawal", "retrait d'AE mises en place enregistré"
    MOVEMENT_AFFECTATION = "movement.affectation", "affectation d'AP enregistrée"
    MOVEMENT_DESAFFECTATION = "movement.desaffectation", "désaffectation enregistrée"
    # -- issue 12: partners' decisions --
    PARTNER_DECISION_RECORDED = "partner_decision.recorded", "décision du financeur enregistrée"
    # -- issue 16: indicators and forecasts --
    INDICATOR_CREATED = "indicator.created", "indicateur créé (catalogue)"
    INDICATOR_UPDATED = "indicator.updated", "indicateur modifié (catalogue)"
    INDICATOR_VALUE_RECORDED = "indicator.value_recorded", "valeur d'indicateur enregistrée"
    SCHEDULE_REPLACED = "line.schedule_replaced", "échéancier prévisionnel enregistré"
    # -- issue 16: closings and reports --
    CLOSING_CREATED = "closing.created", "situation arrêtée (arrêté créé)"
    REPORT_COMMENT_WRITTEN = "closing.comment_written", "commentaire du bilan d'exécution écrit"
    DEMO_GENERATED = "demo.generated", "données de démonstration générées"
    # Entries written as free text before the list was closed (text kept in `changes`)
    LEGACY = "legacy", "action antérieure (texte libre)"
    # Accounts
    USER_CREATED = "user.created", "utilisateur créé"
    USER_UPDATED = "user.updated", "utilisateur modifié"


MOVEMENT_ACTIONS = {
    "commitment": AuditAction.MOVEMENT_COMMITMENT,
    "decommitment": AuditAction.MOVEMENT_DECOMMITMENT,
    "payment": AuditAction.MOVEMENT_PAYMENT,
    "payment_cancellation": AuditAction.MOVEMENT_PAYMENT_CANCELLATION,
    "affectation": AuditAction.MOVEMENT_AFFECTATION,
    "desaffectation": AuditAction.MOVEMENT_DESAFFECTATION,
}
