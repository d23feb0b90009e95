"""Template filters of financing lines: the line's category (contractualisé, valorisé,
co-financement) as `cper.operations.rules.line_category` says."""

from __future__ import annotations

from typing import Any

from django import template

from cper.operations.rules import LINE_CATEGORY_LABELS, line_category

register = template.Library()


@register.filter
def line_category_label(line: Any) -> str:
    """`{{ line|line_category_label }}` → « contractualisé », « valorisé », « co-financement »."""
    return LINE_CATEGORY_LABELS[line_category(line)]
