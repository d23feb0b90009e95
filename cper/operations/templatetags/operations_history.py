"""`{{ entry.changes|readable_changes }}`: an audit entry's changes in French (see
`cper.operations.history`)."""

from __future__ import annotations

from typing import Any

from django import template

from cper.operations.history import Change
from cper.operations.history import readable_changes as _readable

register = template.Library()


@register.filter
def readable_changes(changes: Any) -> list[Change]:
    return _readable(changes)
