"""Map the free-text actions written before the list was closed to `AuditAction` codes.

Exact French labels become their code; "statut : A → B" becomes operation.status_changed and
"décision : X" committee.decision_recorded (the statuses and outcome are in `changes` already,
kept there if not); "movement.<kind>" and other codes stay. Any other text becomes "legacy",
its text kept in `changes["action"]`: the trail is never rewritten away.
"""

from django.db import migrations

# Frozen copy of the codes and labels at the time of this migration.
ACTIONS = {
    "owner.created": "maître d'ouvrage créé",
    "owner.updated": "maître d'ouvrage modifié",
    "operation.created": "opération créée",
    "operation.updated": "opération modifiée",
    "operation.status_changed": "changement de statut",
    "line.added": "ligne de financement ajoutée",
    "line.updated": "ligne de financement modifiée",
    "line.cancelled": "ligne de financement annulée",
    "line.objective_follows": "ligne de financement : objectif suivant l'opération",
    "line.approved_amount": "ligne de financement : montant approuvé par le comité",
    "committee.created": "comité créé",
    "committee.updated": "comité modifié",
    "committee.agenda_added": "inscrite à l'ordre du jour",
    "committee.agenda_removed": "retirée de l'ordre du jour",
    "committee.decision_recorded": "décision du comité",
    "movement.commitment": "engagement enregistré",
    "movement.decommitment": "désengagement enregistré",
    "movement.payment": "paiement enregistré",
    "movement.payment_cancellation": "annulation de paiement enregistrée",
    "execution.rebuild_summaries": "agrégats d'exécution recalculés",
    "contract_load.created": "créé (chargement du contrat)",
    "contract_load.updated": "modifié (chargement du contrat)",
    "contract_load.deleted": "supprimé (chargement du contrat)",
    "amendment.recorded": "avenant enregistré",
    "amendment.change": "changement d'avenant",
    "allocation.created": "allocation créée",
    "allocation.updated": "allocation modifiée",
    "allocation.deleted": "allocation supprimée",
    "geography.loaded": "géographie de référence chargée",
    "import.applied": "import appliqué",
    "api_token.create": "jeton d'API créé",
    "api_token.revoke": "jeton d'API révoqué",
    "demo.generated": "données de démonstration générées",
}
BY_LABEL = {label: code for code, label in ACTIONS.items()}
STATUS_PREFIX = "statut : "
DECISION_PREFIX = "décision : "


def code_for(text, changes):
    """(code, changes) for an action written as `text`."""
    if text in ACTIONS:
        return text, changes
    if text in BY_LABEL:
        return BY_LABEL[text], changes
    if text.startswith(STATUS_PREFIX) and " → " in text:
        if "status" not in changes:
            before, _, after = text.removeprefix(STATUS_PREFIX).partition(" → ")
            changes = {**changes, "status": {"avant": before, "après": after}}
        return "operation.status_changed", changes
    if text.startswith(DECISION_PREFIX):
        if "outcome" not in changes:
            outcome = text.removeprefix(DECISION_PREFIX)
            changes = {**changes, "outcome": {"avant": None, "après": outcome}}
        return "committee.decision_recorded", changes
    return "legacy", {**changes, "action": {"avant": None, "après": text}}


def forwards(apps, schema_editor):
    AuditEntry = apps.get_model("audit", "AuditEntry")
    texts = (
        AuditEntry.objects.exclude(action__in=list(ACTIONS))
        .values_list("action", flat=True)
        .distinct()
    )
    for text in list(texts):
        exact = text in BY_LABEL
        if exact:
            # One UPDATE per label: the changes do not move.
            AuditEntry.objects.filter(action=text).update(action=BY_LABEL[text])
            continue
        rows = list(AuditEntry.objects.filter(action=text).only("pk", "changes"))
        for row in rows:
            row.action, row.changes = code_for(text, row.changes or {})
        AuditEntry.objects.bulk_update(rows, ["action", "changes"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_action_length")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
