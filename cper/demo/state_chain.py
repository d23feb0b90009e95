"""The demo's chapter on the State's budget chain (issue 12): the State's lines get a BOP and
an activity of their programme (Chorus codes, invented), and the AE mises en place per
programme, BOP and exercice are recorded so that the execution by programme has its four
figures. Every figure and code here is illustrative (`Provenance.ILLUSTRATIVE` on the AE):
the BOP of a programme is named after the region (« 0112-HDF »), as no public source gives the
contract's actual BOPs.

Written through the services (`financing_lines_chorus_set`, `ae_mise_en_place_record_many`),
deterministic for a seed; a few seconds at scale S.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_CEILING, Decimal

from django.utils import timezone

from cper.audit.services import Actor
from cper.contracts.models import Contract, PartnerKind
from cper.db import Provenance
from cper.finance import aggregation
from cper.finance.models import AeMiseEnPlace
from cper.finance.services import AeDraft, ae_mise_en_place_record_many
from cper.operations.models import FinancingLine, LineStatus
from cper.operations.services import financing_lines_chorus_set

THOUSAND = Decimal("1000")


def illustrative_bop(programme_code: str) -> str:
    """The demo's BOP of a programme: its number on four digits and the region (invented)."""
    digits = "".join(ch for ch in programme_code if ch.isdigit())
    return f"{int(digits or 0):04d}-HDF"


def illustrative_activity(programme_code: str, objective_code: str) -> str:
    """A 12-digit Chorus-like activity code: programme, objective, a constant (invented)."""
    digits = "".join(ch for ch in programme_code if ch.isdigit())
    axis, _, obj = objective_code.partition(".")
    return f"{int(digits or 0):04d}{int(axis or 0):02d}{int(obj or 0):02d}0101"


def state_chain_demo(*, contract: Contract, seed: int, scale: str) -> str:
    """BOP and activity on the State's lines, then AE mises en place per programme × BOP ×
    exercice: what the State's lines committed that year, plus a margin (5 to 30 %), rounded up
    to the thousand, notified on 1 February (or on the first commitment's date if earlier in
    the year). Returns a French one-line summary."""
    rng = random.Random(f"{seed}-state-chain")
    actor = Actor.system()
    lines = (
        FinancingLine.objects.filter(
            operation__contract=contract,
            partner__kind=PartnerKind.STATE,
            status=LineStatus.ACTIVE,
            programme__isnull=False,
        )
        .order_by("pk")
        .values_list("pk", "programme__code", "objective__code")
    )
    codes = {
        pk: (illustrative_bop(prog), illustrative_activity(prog, obj)) for pk, prog, obj in lines
    }
    changed = financing_lines_chorus_set(actor=actor, codes=codes)

    if AeMiseEnPlace.objects.filter(contract=contract).exists():
        return f"chaîne de l'État : {changed} lignes avec BOP et activité (AE déjà en place)"
    today = timezone.localdate()
    table = aggregation.programme_execution(
        contract=contract, as_of=today, group_by=("programme", "bop", "year")
    )
    drafts: list[AeDraft] = []
    for row in table.rows:
        programme, bop, year = row.key["programme"], row.key["bop"], row.key["year"]
        if programme is None or year is None or row.ae_committed <= 0:
            continue
        margin = Decimal(str(round(rng.uniform(1.05, 1.30), 2)))
        amount = (row.ae_committed * margin / THOUSAND).to_integral_value(ROUND_CEILING) * THOUSAND
        day = min(dt.date(year, 2, 1), today)
        drafts.append(
            AeDraft(
                programme=programme,
                bop=bop,
                year=year,
                amount=amount,
                date=day,
                reference=f"DEMO-AE-{programme}-{year}",
                note="montant illustratif (démonstration)",
                provenance=Provenance.ILLUSTRATIVE,
            )
        )
    made = ae_mise_en_place_record_many(actor=actor, contract=contract, drafts=drafts)
    return (
        f"chaîne de l'État : {changed} lignes avec BOP et activité, {len(made)} mises en place "
        "d'AE par programme, BOP et exercice (illustratives)"
    )
