"""`{% operation_execution op %}`: the execution section of an operation's page, drawn by the
ledger's own template from `finance.selectors.operation_execution`."""

from __future__ import annotations

from typing import Any

from django import template

from cper.finance.selectors import operation_execution as execution_of

register = template.Library()


@register.inclusion_tag("finance/_execution.html", takes_context=True)
def operation_execution(context: template.Context, op: Any) -> dict[str, Any]:
    request = context["request"]
    return {
        "x": execution_of(operation=op, user=request.user),
        "contract": op.contract,
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
