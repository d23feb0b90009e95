"""Writes of the register: project owners, operations, co-financing lines, committees, decisions.

Every function is keyword-only, atomic, checks the actor's permission with
`cper.accounts.permissions` (the one place), validates with `cper.operations.rules`, and writes
an audit entry with the before/after values and the path (`actor.via`). Invalid input raises
`django.core.exceptions.ValidationError` keyed by field name (French messages) and writes
nothing; a refused permission raises `PermissionDenied`. Money is never deleted: a financing
line is cancelled with a reason.

Creating owners and operations is one implementation, for one or many: `cper.operations.bulk`
(`owner_create` and `operation_create` are a batch of one draft). Every write that changes what
a financing line counts as (its amount, objective, status; its operation's place, markers,
status or programming date) brings the execution summaries in step itself, in its transaction
(`execution().lines_sync`, kept by the finance app: `cper.operations.execution`): no
signal does it.

One module per job — `owners`, `operations`, `lines`, `committees`, `decisions` (and `common`
for their shared helpers); callers import from this package, which names them all.
"""

from cper.operations.services.chorus import financing_lines_chorus_set  # issue 12
from cper.operations.services.committees import (
    EXAMINABLE,
    committee_add_to_agenda,
    committee_create,
    committee_remove_from_agenda,
    committee_update,
)
from cper.operations.services.decisions import decision_record
from cper.operations.services.lines import (
    FROZEN_PLAN,
    LINE_EDITABLE,
    financing_line_add,
    financing_line_cancel,
    financing_line_update,
)
from cper.operations.services.operations import (
    OPERATION_FIELDS,
    OPERATION_M2M,
    TERMINAL_EDITABLE,
    external_reference_set,
    operation_create,
    operation_update,
)
from cper.operations.services.owners import OWNER_FIELDS, owner_create, owner_update
from cper.operations.services.partner_decisions import (  # issue 12
    PartnerDecisionDraft,
    PartnerDecisionResult,
    partner_decision_record,
    partner_decisions_record_many,
)

__all__ = [
    "EXAMINABLE",
    "FROZEN_PLAN",
    "LINE_EDITABLE",
    "OPERATION_FIELDS",
    "OPERATION_M2M",
    "OWNER_FIELDS",
    "TERMINAL_EDITABLE",
    "PartnerDecisionDraft",
    "PartnerDecisionResult",
    "committee_add_to_agenda",
    "committee_create",
    "committee_remove_from_agenda",
    "committee_update",
    "decision_record",
    "external_reference_set",
    "financing_line_add",
    "financing_line_cancel",
    "financing_line_update",
    "financing_lines_chorus_set",
    "operation_create",
    "operation_update",
    "owner_create",
    "owner_update",
    "partner_decision_record",
    "partner_decisions_record_many",
]
