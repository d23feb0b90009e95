"""Template helpers of the pages: URLs that keep the current filters (exports, map options)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def with_query(context: Any, **changes: Any) -> str:
    """The current query string with `changes` applied (a None or empty value removes a key)."""
    request = context["request"]
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value not in (None, ""):
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def export_url(context: Any, table_id: str, fmt: str) -> str:
    return with_query(context, export=table_id, format=fmt)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None
