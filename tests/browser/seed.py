"""Execution data for the browser tests when `cper demo` is not available: some forty
operations spread over the départements, objectives and partners, programmed from 2021 on,
with commitments and payments — built like the execution tests' factories (movements through
the finance services). Deterministic."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

COMMUNES = ["59350", "59512", "62041", "62193", "02408", "02691", "60057", "60175", "80021",
            "59178", "62498", "80001", "59606", "02168", "60159"]  # fmt: skip
OBJECTIVES = ["1.1", "1.3", "2.1", "2.2", "2.4", "2.5", "2.6", "3.2", "3.3", "4.1", "4.2", "5.2"]
PARTNERS = ["etat", "region", "dep-02", "dep-59", "dep-60", "dep-62", "dep-80", "mel"]
MARKED = {"1.1", "2.4", "2.5", "3.2", "3.3", "4.2"}


def run(count: int = 40) -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    django.setup()
    from cper.contracts.models import Contract
    from tests.finance import factories as F

    contract = Contract.objects.get(slug="hauts-de-france-2021-2027")
    rng = random.Random(2021)
    for i in range(count):
        objective = OBJECTIVES[i % len(OBJECTIVES)]
        programmed_on = dt.date(2021, 3, 1) + dt.timedelta(days=rng.randrange(0, 1500))
        op = F.operation(
            contract,
            objective=objective,
            communes=(COMMUNES[i % len(COMMUNES)],),
            code=f"DEMO-{i + 1:03d}",
            programmed_on=programmed_on,
            markers=("emploi-formation-orientation",) if objective in MARKED else (),
        )
        op.published = True
        op.save(update_fields=["published"])
        for partner in rng.sample(PARTNERS, 2):
            amount = Decimal(rng.randrange(2, 80)) * 250_000
            line = F.line(op, partner, amount)
            if rng.random() < 0.8:
                day = programmed_on + dt.timedelta(days=rng.randrange(30, 400))
                committed = (amount * Decimal(rng.randrange(50, 101)) / 100).quantize(Decimal(1))
                if day < dt.date.today():
                    F.record(line, "commitment", day, committed)
                    pay_day = day + dt.timedelta(days=rng.randrange(60, 700))
                    if pay_day < dt.date.today():
                        F.record(line, "payment", pay_day, (committed / 2).quantize(Decimal(1)))


if __name__ == "__main__":
    run()
