"""`cper report annual SLUG --closing DATE --output F.pdf [--label TEXT]` (the bilan d'exécution,
or its annexes when F ends in .xlsx/.ods) and `cper report committee SLUG --committee ID
--output F.pdf` (the comité de suivi pack)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cper.closings import reports
from cper.closings.management.commands.closing import closing_or_error, contract_or_error
from cper.operations.models import Committee


class Command(BaseCommand):
    help = (
        "Rapports : annual SLUG --closing AAAA-MM-JJ --output F.pdf|.xlsx|.ods [--label TEXTE] | "
        "committee SLUG --committee ID --output F.pdf"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True)
        annual = sub.add_parser("annual", help="bilan d'exécution au 31/12/N, sur un arrêté")
        annual.add_argument("slug")
        annual.add_argument("--closing", required=True, help="date de l'arrêté (AAAA-MM-JJ)")
        annual.add_argument("--label", default=None, help="libellé de l'arrêté")
        annual.add_argument("--output", required=True, help="fichier .pdf, .xlsx ou .ods")
        committee = sub.add_parser("committee", help="dossier de séance d'un comité de suivi")
        committee.add_argument("slug")
        committee.add_argument("--committee", required=True, type=int, help="identifiant")
        committee.add_argument("--output", required=True, help="fichier .pdf")

    def handle(self, *args: Any, **options: Any) -> None:
        contract = contract_or_error(options["slug"])
        output = Path(options["output"])
        if options["kind"] == "annual":
            closing = closing_or_error(contract, options["closing"], options["label"])
            ext = output.suffix.lower().lstrip(".")
            if ext == "pdf":
                data = reports.annual_report_pdf(closing)
            elif ext in {"xlsx", "ods"}:
                data = reports.annual_report_annex(closing, ext)
            else:
                raise CommandError("--output : extension .pdf, .xlsx ou .ods attendue")
            what = f"bilan d'exécution au {closing.at:%d/%m/%Y}"
        else:
            if output.suffix.lower() != ".pdf":
                raise CommandError("--output : extension .pdf attendue")
            try:
                data = reports.committee_pack_pdf(
                    contract=contract, committee_pk=options["committee"]
                )
            except Committee.DoesNotExist as exc:
                raise CommandError(f"comité inconnu : {options['committee']}") from exc
            what = "dossier de séance"
        output.write_bytes(data)
        self.stdout.write(self.style.SUCCESS(f"{what} écrit dans {output} ({len(data)} octets)"))
