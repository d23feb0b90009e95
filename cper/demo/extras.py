"""The demo's later chapters: what each area adds to the illustrative register once the
operations and their movements exist (decisions of the partners, budget chains, closings,
indicators, forecasts…). Each entry is a function of the area's own demo module taking
(contract, seed, scale) and returning a one-line French summary; they run in this order.
"""

from __future__ import annotations

from collections.abc import Callable

from cper.contracts.models import Contract

DemoExtra = Callable[..., str]


def extras() -> list[DemoExtra]:
    """The chapters, in order. Each area adds its line in its own block below."""
    chapters: list[DemoExtra] = []
    # -- issue 12: structure (volets, valorised, levels) --
    # -- issue 12: budget chains (State AE/CP, AP affectations) --
    # -- issue 12: partners' decisions --
    # -- issue 16: indicators and forecasts --
    # -- issue 16: closings (last: they freeze what the others wrote) --
    return chapters


def demo_extras_generate(*, contract: Contract, seed: int, scale: str) -> list[str]:
    """Run every chapter; returns their summaries."""
    return [chapter(contract=contract, seed=seed, scale=scale) for chapter in extras()]
