"""Loading the contract file's `valorised:` section: the signatories' valorised credits
(`ValorisedCredit`), their own optional maquette, kept apart from the contracted one.

```yaml
valorised:
  - {partner: region, objective: "2.5", amount: "12000000.00", provenance: illustrative}
```

Each line names a signatory and an objective of the contract (and optionally a year within the
contract's period); lines are upserted keyed on partner × objective × year through
`services.valorised_credits_write` (audited). A line the file no longer names is reported,
never deleted (like the structure's rows).
"""

from __future__ import annotations

from typing import Any

from cper.audit.services import Actor, UpsertDraft
from cper.contracts.loader import LoadReport
from cper.contracts.models import Contract, Objective, Partner
from cper.maquette.loader import _Errors, _line_map, _validate
from cper.maquette.models import ValorisedCredit
from cper.maquette.schema import ValorisedIn
from cper.maquette.services import valorised_credits_write


def valorised_load_from_file(
    *, contract: Contract, data: dict[str, Any], path: str, actor: Actor, report: LoadReport
) -> None:
    """Load `data["valorised"]` for `contract` (inside the contract loader's transaction: an
    error raises `ContractFileError` naming key and line, and the whole load rolls back)."""
    errors = _Errors(path, _line_map(path))
    items: list[ValorisedIn] | None = _validate(
        list[ValorisedIn], data.get("valorised") or [], "valorised", errors
    )
    errors.raise_if_any()
    partners = {p.code: p for p in Partner.objects.filter(contract=contract)}
    objectives = {o.code: o for o in Objective.objects.filter(contract=contract)}
    drafts: list[UpsertDraft] = []
    for i, item in enumerate(items or []):
        where = f"valorised[{i}]"
        partner = partners.get(item.partner)
        objective = objectives.get(item.objective)
        if partner is None:
            errors.add(f"{where}.partner", f"partenaire inconnu « {item.partner} »")
        if objective is None:
            errors.add(f"{where}.objective", f"objectif inconnu « {item.objective} »")
        if item.year is not None and item.year not in contract.years:
            errors.add(
                f"{where}.year",
                f"l'année {item.year} est hors de la période du contrat "
                f"({contract.start_year}–{contract.end_year})",
            )
        if partner is None or objective is None:
            continue
        drafts.append(
            UpsertDraft(
                {
                    "contract": contract,
                    "partner": partner,
                    "objective": objective,
                    "year": item.year,
                },
                {
                    "amount": item.amount,
                    "note": item.note,
                    "provenance": item.provenance,
                    "source": item.source,
                },
            )
        )
    keys = [(d.lookup["partner"].pk, d.lookup["objective"].pk, d.lookup["year"]) for d in drafts]
    if len(set(keys)) != len(keys):
        errors.add("valorised", "deux lignes pour le même partenaire × objectif × année")
    errors.raise_if_any()
    for done in valorised_credits_write(actor=actor, contract=contract, drafts=drafts):
        report.count(done.outcome, "crédits valorisés")
    # Rows the file no longer names are reported, never deleted.
    written = set(keys)
    for row in ValorisedCredit.objects.filter(contract=contract).select_related(
        "partner", "objective"
    ):
        if (row.partner_id, row.objective_id, row.year) not in written:
            report.warnings.append(
                f"crédits valorisés {row.partner.code} × {row.objective.code} absents du fichier "
                "(conservés)"
            )
