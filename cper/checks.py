"""The consistency report behind `cper contract check`: rules registered by each domain app.

A rule is a plain function `(contract) -> list[Finding]`; apps register theirs with
`@register_check` in their `rules.py`, imported by their AppConfig.ready(). A check finding is
the project's one `Finding` type (`cper.findings`) with the check's code as its field; the
report shows its level's French word ("bloquant", "avertissement", "information").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cper.findings import ERROR, INFO, WARNING, Finding, Level

# The report's names for the levels: a blocking finding is an error.
BLOCKING = ERROR

__all__ = [
    "BLOCKING",
    "INFO",
    "WARNING",
    "CheckFn",
    "Finding",
    "finding",
    "has_blocking",
    "register_check",
    "run_checks",
]


def finding(level: Level, code: str, message: str) -> Finding:
    """A check finding in the order the checks read best: level, code, message."""
    return Finding(code, message, level)


CheckFn = Callable[[Any], list[Finding]]
_REGISTRY: list[tuple[str, CheckFn]] = []


def register_check(fn: CheckFn) -> CheckFn:
    name = f"{fn.__module__}.{fn.__qualname__}"
    if all(existing != name for existing, _ in _REGISTRY):
        _REGISTRY.append((name, fn))
    return fn


def run_checks(contract: Any) -> list[Finding]:
    findings: list[Finding] = []
    for _name, fn in _REGISTRY:
        findings.extend(fn(contract))
    return findings


def has_blocking(findings: list[Finding]) -> bool:
    return any(f.level == BLOCKING for f in findings)
