"""`cper contract load`: loading a contract data file, every section, in one transaction.

The file's sections belong to different apps: the structure (contract, partners, axes,
objectives, territories, markers…) to `contracts`, the maquette and its amendments to
`maquette`. Each app loads its own sections through its services; this module runs them in
order, then keeps the execution summaries in step (a project territory's communes decide where
an operation counts), so that neither app depends on an app above it.
"""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from cper.audit.services import Actor
from cper.contracts.loader import LoadReport, contract_structure_load
from cper.contracts.models import Contract, ContractTerritory
from cper.finance import summaries
from cper.maquette.loader import maquette_load_from_file
from cper.maquette.valorised import valorised_load_from_file
from cper.operations.models import Operation

# What a load changes that the execution summaries depend on: the territories of the contract
# and their members (where an operation counts).
TERRITORY_KINDS = ("territoires du contrat", "EPCI des territoires", "communes des territoires")


@transaction.atomic
def contract_load(*, path: Path | str, actor: Actor) -> tuple[Contract, LoadReport]:
    """Load or update the contract described by `path` and its maquette. All or nothing: an
    error anywhere raises `ContractFileError` (naming key and line) and nothing is written."""
    contract, data, report = contract_structure_load(path=path, actor=actor)
    if data.get("maquette") is not None or data.get("amendments") is not None:
        maquette_load_from_file(
            contract=contract, data=data, path=str(path), actor=actor, report=report
        )
    if data.get("valorised") is not None:  # valorised credits, apart from the maquette
        valorised_load_from_file(
            contract=contract, data=data, path=str(path), actor=actor, report=report
        )
    if any(kind in report.created or kind in report.updated for kind in TERRITORY_KINDS):
        # A project territory may be shared: every contract naming one of this contract's.
        contracts = ContractTerritory.objects.filter(
            territory__in=ContractTerritory.objects.filter(contract=contract).values("territory")
        ).values("contract")
        summaries.lines_sync(
            operation_ids=Operation.objects.filter(contract__in=contracts).values_list(
                "pk", flat=True
            )
        )
    return contract, report
