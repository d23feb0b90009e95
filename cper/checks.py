"""The consistency report behind `cper contract check`: rules registered by each domain app.

A rule is a plain function `(contract) -> list[Finding]`; apps register theirs with
`@register_check` in their `rules.py`, imported by their AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BLOCKING = "bloquant"
WARNING = "avertissement"
INFO = "information"


@dataclass(frozen=True)
class Finding:
    level: str  # BLOCKING | WARNING | INFO
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"niveau": self.level, "code": self.code, "message": self.message}


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
