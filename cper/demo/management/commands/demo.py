"""`cper demo [--scale S|M|L] [--seed N] [--if-empty]`: the illustrative register of a contract.

S ≈ 2,000 operations, M ≈ 100,000, L ≈ 500,000; deterministic for a given seed. After the
operations, the finance app's demo (commitments and payments) runs unless --no-finance; the demo
accounts (one per role, see docs/operations.md) are created unless --no-users.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from cper.contracts.models import Contract, ProgrammingMode
from cper.demo.extras import demo_extras_generate
from cper.demo.generator import SCALES, demo_generate
from cper.demo.partner_decisions import demo_partner_decisions_before_movements
from cper.demo.users import demo_users_ensure
from cper.finance.demo import movements_generate
from cper.operations.models import Operation

DEFAULT_CONTRACT = "hauts-de-france-2021-2027"


class Command(BaseCommand):
    help = "Génère des données de démonstration (illustratives) : opérations, plans, comités."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", choices=sorted(SCALES), default="S", help="S, M ou L")
        parser.add_argument("--seed", type=int, default=2021, help="graine (défaut 2021)")
        parser.add_argument("--contract", default=DEFAULT_CONTRACT, help="identifiant du contrat")
        parser.add_argument(
            "--operations", type=int, default=None, help="nombre d'opérations (remplace l'échelle)"
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="ne rien générer si le contrat a déjà des opérations (sortie 0)",
        )
        parser.add_argument("--no-users", action="store_true", help="ne pas créer les comptes")
        parser.add_argument(
            "--no-finance", action="store_true", help="sans engagements ni paiements"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            contract = Contract.objects.get(slug=opts["contract"])
        except Contract.DoesNotExist as exc:
            raise CommandError(
                f"contrat « {opts['contract']} » introuvable (chargez-le : cper contract load …)"
            ) from exc
        if not opts["no_users"]:
            created = demo_users_ensure()
            if created:
                self.stdout.write(f"comptes de démonstration créés : {', '.join(created)}")
        existing = Operation.objects.filter(contract=contract).count()
        if existing:
            if opts["if_empty"]:
                self.stdout.write(
                    f"{contract.slug} a déjà {existing} opérations : démonstration non générée."
                )
                return
            raise CommandError(
                f"{contract.slug} a déjà {existing} opérations : la démonstration se génère sur "
                "un contrat sans opération (base neuve, ou --if-empty pour ne rien faire)."
            )
        started = time.monotonic()
        verbose = opts.get("verbosity", 1) >= 2
        report = demo_generate(
            contract=contract,
            scale=opts["scale"],
            seed=opts["seed"],
            operations=opts["operations"],
            log=(lambda s: self.stdout.write(s)) if verbose else (lambda s: None),
        )
        self.stdout.write(f"registre : {report.summary()} ({report.seconds:.1f} s)")
        for note in report.notes:
            self.stdout.write(f"  {note}")
        if not opts["no_finance"]:
            # The register's tables were just filled: PostgreSQL has no statistics on them until
            # autovacuum comes by, and plans the next phases' reads as if they held a few rows
            # (at scale L, reading the lines to give movements joined each line to every
            # programmed operation: 5 s for 2,000 lines). ANALYZE samples, writes no row.
            self._statistics()
            if contract.programming_mode == ProgrammingMode.PARTNER_DECISION:
                # issue 12: the partners' decisions come before the commitments they allow.
                self.stdout.write(
                    demo_partner_decisions_before_movements(
                        contract=contract, seed=opts["seed"], scale=opts["scale"]
                    )
                )
                self._statistics()
            self._finance(contract, opts["seed"], opts["scale"])
            for summary in demo_extras_generate(
                contract=contract, seed=opts["seed"], scale=opts["scale"]
            ):
                self.stdout.write(summary)
        if connection.vendor == "postgresql":
            # Fresh planner statistics for every table just filled (not a write of any row):
            # until autovacuum gets to them, PostgreSQL plans as if the tables were near empty
            # (at scale M, an API page of lines took 1.8 s instead of 20 ms).
            # VACUUM too (outside a transaction only): the summaries recomputed at the end leave
            # every line state's old version behind, which index scans still visit (an alert of
            # the dashboard at M: 98 ms before, 43 ms after).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
        self.stdout.write(
            self.style.SUCCESS(f"démonstration prête en {time.monotonic() - started:.1f} s")
        )

    def _statistics(self) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

    def _finance(self, contract: Contract, seed: int, scale: str) -> None:
        t0 = time.monotonic()
        result = movements_generate(contract=contract, rng_seed=seed, scale=scale)
        self.stdout.write(
            f"exécution : {result.movements} mouvements sur {result.lines} lignes "
            f"({time.monotonic() - t0:.1f} s)"
        )
