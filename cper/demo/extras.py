"""The demo's later chapters: what each area adds to the illustrative register once the
operations and their movements exist (decisions of the partners, budget chains, closings,
indicators, forecasts…). Each entry is a function of the area's own demo module taking
(contract, seed, scale) and returning a one-line French summary; they run in this order.
"""

from __future__ import annotations

from collections.abc import Callable

from cper.closings.demo import demo_closings  # issue 16: closings
from cper.contracts.models import Contract
from cper.demo.partner_decisions import demo_partner_decisions  # issue 12: decisions
from cper.demo.state_chain import state_chain_demo  # issue 12: State budget chain
from cper.forecasts.demo import demo_forecasts  # issue 16: forecasts
from cper.indicators.demo import demo_indicators  # issue 16: indicators

DemoExtra = Callable[..., str]


def extras() -> list[DemoExtra]:
    """The chapters, in order. Each area adds its line in its own block below."""
    chapters: list[DemoExtra] = []
    # -- issue 12: structure (volets, valorised, levels) --
    # -- issue 12: budget chains (State AE/CP, AP affectations) --
    chapters.append(state_chain_demo)
    # -- issue 12: partners' decisions --
    chapters.append(demo_partner_decisions)
    # -- issue 16: indicators and forecasts --
    chapters += [demo_indicators, demo_forecasts]
    # -- issue 16: closings (last: they freeze what the others wrote) --
    chapters.append(demo_closings)
    return chapters


def demo_extras_generate(*, contract: Contract, seed: int, scale: str) -> list[str]:
    """Run every chapter; returns their summaries."""
    return [chapter(contract=contract, seed=seed, scale=scale) for chapter in extras()]
