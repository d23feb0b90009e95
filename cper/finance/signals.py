"""Keep the execution summaries in step with the register: every `save()` (or M2M change) of a
model that changes what a financing line counts as re-synchronises the lines concerned, in the
same transaction. Writes that bypass signals (`QuerySet.update`, `bulk_create`) must call
`cper.finance.summaries.lines_sync(...)` themselves, or rebuild the summaries afterwards.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from cper.finance import summaries

# Operation fields the summaries depend on; a save limited to other fields needs no sync.
_OPERATION_FIELDS = frozenset({"status", "departement", "epci", "contract", "created_at"})


def _sync_operations(ids: list[int]) -> None:
    summaries.lines_sync(operation_ids=ids)


def on_line_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    summaries.lines_sync(line_ids=[instance.pk])


def on_line_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Take the line's contribution out before the state row disappears with it.
    summaries.lines_sync(removed=[instance.pk])


def on_operation_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    fields = kwargs.get("update_fields")
    if fields is not None and not (set(fields) & _OPERATION_FIELDS):
        return
    if kwargs.get("created"):
        return  # a new operation has no line yet
    _sync_operations([instance.pk])


def on_transition_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    _sync_operations([instance.operation_id])


def on_transition_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _sync_operations([instance.operation_id])


def on_operation_commune(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    _sync_operations([instance.operation_id])


def on_markers_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    from cper.operations.models import Operation

    if isinstance(instance, Operation):
        _sync_operations([instance.pk])
    else:  # changed from the marker's side
        pk_set = kwargs.get("pk_set")
        if pk_set:
            _sync_operations(sorted(pk_set))
        else:
            _sync_contract_operations([instance.contract_id])


def _sync_contract_operations(contract_ids: list[int]) -> None:
    from cper.operations.models import Operation

    ids = list(Operation.objects.filter(contract_id__in=contract_ids).values_list("pk", flat=True))
    _sync_operations(ids)


def on_territory_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    from cper.contracts.models import ContractTerritory
    from cper.territories.models import ProjectTerritory

    if isinstance(instance, ProjectTerritory):
        contracts = list(
            ContractTerritory.objects.filter(territory=instance).values_list(
                "contract_id", flat=True
            )
        )
        if contracts:
            _sync_contract_operations(contracts)


def on_contract_territory(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    _sync_contract_operations([instance.contract_id])


def on_committee_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or kwargs.get("created"):
        return
    from cper.operations.models import OperationTransition

    ops = list(
        OperationTransition.objects.filter(decision__committee=instance)
        .values_list("operation_id", flat=True)
        .distinct()
    )
    if ops:
        _sync_operations(ops)


def connect_signals() -> None:
    from cper.contracts.models import ContractTerritory
    from cper.operations.models import (
        Committee,
        FinancingLine,
        Operation,
        OperationCommune,
        OperationTransition,
    )
    from cper.territories.models import ProjectTerritory

    uid = "cper.finance.summaries"
    post_save.connect(on_line_saved, sender=FinancingLine, dispatch_uid=f"{uid}.line")
    pre_delete.connect(on_line_deleted, sender=FinancingLine, dispatch_uid=f"{uid}.line_del")
    post_save.connect(on_operation_saved, sender=Operation, dispatch_uid=f"{uid}.operation")
    post_save.connect(
        on_transition_saved, sender=OperationTransition, dispatch_uid=f"{uid}.transition"
    )
    post_delete.connect(
        on_transition_deleted, sender=OperationTransition, dispatch_uid=f"{uid}.transition_del"
    )
    post_save.connect(on_operation_commune, sender=OperationCommune, dispatch_uid=f"{uid}.oc")
    post_delete.connect(on_operation_commune, sender=OperationCommune, dispatch_uid=f"{uid}.oc_d")
    m2m_changed.connect(
        on_markers_changed, sender=Operation.markers.through, dispatch_uid=f"{uid}.markers"
    )
    m2m_changed.connect(
        on_territory_changed,
        sender=ProjectTerritory.communes.through,
        dispatch_uid=f"{uid}.territory_communes",
    )
    m2m_changed.connect(
        on_territory_changed,
        sender=ProjectTerritory.epcis.through,
        dispatch_uid=f"{uid}.territory_epcis",
    )
    post_save.connect(on_contract_territory, sender=ContractTerritory, dispatch_uid=f"{uid}.ct")
    post_delete.connect(
        on_contract_territory, sender=ContractTerritory, dispatch_uid=f"{uid}.ct_del"
    )
    post_save.connect(on_committee_saved, sender=Committee, dispatch_uid=f"{uid}.committee")
