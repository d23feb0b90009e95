"""`{% operation_indicators op %}`: the block « Indicateurs » of an operation's page, drawn by
the indicators' own template from `indicators.selectors.operation_indicators`."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from cper.indicators.forms import ValueForm
from cper.indicators.rules import plain
from cper.indicators.selectors import operation_indicators as indicators_of

register = template.Library()


def block_context(
    request: Any, op: Any, form: ValueForm | None = None, done: str = ""
) -> dict[str, Any]:
    block = indicators_of(operation=op, user=request.user)
    if form is None and block.can_edit and block.choices:
        form = ValueForm(indicators=block.choices)
    return {
        "b": block,
        "form": form,
        "done": done,
        "action": reverse("indicators:value_new", kwargs={"slug": op.contract.slug, "pk": op.pk}),
        "request": request,
    }


@register.inclusion_tag("indicators/_operation_block.html", takes_context=True)
def operation_indicators(context: template.Context, op: Any) -> dict[str, Any]:
    out = block_context(context["request"], op)
    out["csrf_token"] = context.get("csrf_token")
    return out


@register.filter
def qty(value: Any) -> str:
    """A quantity in French: 1 234,5 (no trailing zeros); « — » when None."""
    if value is None or value == "":
        return "—"
    text = plain(value)
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    groups: list[str] = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    out = sign + "\u202f".join(groups or ["0"])
    return f"{out},{frac}" if frac else out
