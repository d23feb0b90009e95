"""`{% operation_schedule op %}`: the block « Échéancier prévisionnel » of an operation's page,
drawn by the forecasts' own template from `forecasts.selectors.operation_schedules`."""

from __future__ import annotations

from typing import Any

from django import template

from cper.forecasts.forms import ScheduleForm, rows_text
from cper.forecasts.selectors import operation_schedules

register = template.Library()


def block_context(
    request: Any, op: Any, forms: dict[int, ScheduleForm] | None = None, done: str = ""
) -> dict[str, Any]:
    lines = operation_schedules(operation=op, user=request.user)
    forms = forms or {}
    items = []
    for f in lines:
        form = forms.get(f.line.pk)
        if form is None and f.can_edit:
            initial = rows_text(f.schedule.rows) if f.schedule else ""
            form = ScheduleForm(initial={"rows": initial}, prefix=f"ech-{f.line.pk}")
        items.append({"f": f, "form": form})
    return {"op": op, "items": items, "done": done, "request": request}


@register.inclusion_tag("forecasts/_operation_block.html", takes_context=True)
def operation_schedule(context: template.Context, op: Any) -> dict[str, Any]:
    out = block_context(context["request"], op)
    out["csrf_token"] = context.get("csrf_token")
    return out
