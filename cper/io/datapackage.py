"""A Frictionless data package of a contract: the maquette in force, the operations, their
financing lines and the movements, as CSV files (UTF-8, comma, ISO dates, dot decimals) with a
`datapackage.json` giving a Table Schema per file (types, constraints, keys between files).
Valid under `frictionless validate DIR/datapackage.json`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.utils import timezone

from cper.contracts.models import Contract
from cper.finance.models import Movement
from cper.formulas import neutralise
from cper.maquette.selectors import allocation_lines
from cper.operations.models import FinancingLine, OperationCommune
from cper.operations.selectors import operation_queryset


def _f(name: str, type_: str, title: str, **constraints: Any) -> dict[str, Any]:
    field: dict[str, Any] = {"name": name, "type": type_, "title": title}
    if type_ == "number":
        field["decimalChar"] = "."
    if constraints:
        field["constraints"] = constraints
    return field


MONEY_C = {"minimum": 0}

RESOURCES: dict[str, dict[str, Any]] = {
    "maquette": {
        "title": "Maquette financière en vigueur (lignes initiales et avenants)",
        "fields": [
            _f("id", "integer", "identifiant de la ligne", required=True, unique=True),
            _f("partenaire", "string", "code du partenaire", required=True),
            _f("axe", "integer", "numéro de l'axe", required=True),
            _f("objectif", "string", "code de l'objectif", required=True),
            _f("annee", "integer", "année (vide : toute la période)"),
            _f("avenant", "integer", "numéro de l'avenant (vide : contrat initial)"),
            _f("montant", "number", "montant (€ ; un avenant peut être négatif)", required=True),
            _f("nature_budgetaire", "string", "AE/CP, AP/CP ou autre", required=True),
            _f("programme", "string", "programme LOLF"),
            _f(
                "provenance",
                "string",
                "officiel ou illustratif",
                required=True,
                enum=["officiel", "illustratif"],
            ),
            _f("source", "string", "source du montant"),
        ],
        "primaryKey": ["id"],
    },
    "operations": {
        "title": "Opérations",
        "fields": [
            _f("code", "string", "numéro de l'opération", required=True, unique=True),
            _f("intitule", "string", "intitulé", required=True),
            _f("maitre_ouvrage", "string", "maître d'ouvrage", required=True),
            _f("siret", "string", "SIRET du maître d'ouvrage", pattern=r"\d{14}"),
            _f("rna", "string", "numéro RNA du maître d'ouvrage"),
            _f("categorie_juridique", "string", "catégorie juridique", required=True),
            _f("communes", "string", "codes INSEE des communes, séparés par des espaces"),
            _f("departement", "string", "département (code INSEE)"),
            _f("epci", "string", "EPCI (SIREN)"),
            _f("objectif", "string", "objectif principal", required=True),
            _f("statut", "string", "statut", required=True),
            _f("debut", "date", "début prévu"),
            _f("fin", "date", "fin prévue"),
            _f("cout_ht", "number", "coût total HT (€)", **MONEY_C),
            _f("cout_ttc", "number", "coût total TTC (€)", **MONEY_C),
            _f("assiette", "string", "assiette du financement", enum=["ht", "ttc"]),
            _f("provenance", "string", "officiel ou illustratif"),
        ],
        "primaryKey": ["code"],
    },
    "lignes_financement": {
        "title": "Lignes des plans de financement",
        "fields": [
            _f("id", "integer", "identifiant de la ligne", required=True, unique=True),
            _f("operation", "string", "numéro de l'opération", required=True),
            _f(
                "type_financeur",
                "string",
                "type de financeur",
                required=True,
                enum=["partner", "eu_fund", "other_public", "owner", "private"],
            ),
            _f("partenaire", "string", "code du partenaire du contrat"),
            _f("financeur", "string", "financeur (FEDER, ADEME…)"),
            _f("objectif", "string", "objectif imputé", required=True),
            _f("montant", "number", "montant (€)", required=True, **MONEY_C),
            _f("contractualise", "boolean", "compte dans la maquette", required=True),
            _f("nature_budgetaire", "string", "nature budgétaire", required=True),
            _f("programme", "string", "programme LOLF"),
            _f("annee", "integer", "année de programmation"),
            _f("reference", "string", "référence du financeur"),
            _f("etat", "string", "active ou annulée", required=True, enum=["active", "cancelled"]),
        ],
        "primaryKey": ["id"],
        "foreignKeys": [
            {"fields": ["operation"], "reference": {"resource": "operations", "fields": ["code"]}}
        ],
    },
    "mouvements": {
        "title": "Engagements et paiements",
        "fields": [
            _f("id", "integer", "identifiant", required=True, unique=True),
            _f("ligne", "integer", "ligne de financement", required=True),
            _f("operation", "string", "numéro de l'opération", required=True),
            _f(
                "nature",
                "string",
                "nature",
                required=True,
                enum=[
                    "commitment",
                    "decommitment",
                    "payment",
                    "payment_cancellation",
                    "affectation",
                    "desaffectation",
                ],
            ),
            _f("date", "date", "date", required=True),
            _f(
                "montant",
                "number",
                "montant (€, toujours positif)",
                required=True,
                minimum=0.01,
            ),
            _f("reference", "string", "n° EJ, d'affectation ou de mandat", required=True),
        ],
        "primaryKey": ["id"],
        "foreignKeys": [
            {"fields": ["ligne"], "reference": {"resource": "lignes_financement", "fields": ["id"]}}
        ],
    },
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return f"{value:f}" if hasattr(value, "as_tuple") else str(value)


def _write(path: Path, names: list[str], rows: Iterable[Iterable[Any]]) -> int:
    """One resource's CSV; its string fields neutralised (`cper.formulas`: a text that a
    spreadsheet would evaluate gets an apostrophe), numbers, dates and booleans as they are."""
    resource = RESOURCES[path.stem]
    texts = [f["type"] == "string" for f in resource["fields"]]
    n = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow(
                [neutralise(_text(v)) if t else _text(v) for v, t in zip(row, texts, strict=True)]
            )
            n += 1
    return n


def export(
    contract: Contract, output: str | Path, *, as_of: dt.date | None = None, user: Any = None
) -> dict[str, int]:
    """Write the CSV files and `datapackage.json` into `output` (created); return row counts."""

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    as_of = as_of or timezone.localdate()
    counts: dict[str, int] = {}
    names = {k: [f["name"] for f in r["fields"]] for k, r in RESOURCES.items()}
    provenance = {"official": "officiel", "illustrative": "illustratif"}

    allocations = (
        allocation_lines(contract=contract, as_of=as_of)
        .select_related("partner", "objective__axis", "amendment", "programme")
        .order_by("id")
    )
    counts["maquette"] = _write(
        out / "maquette.csv",
        names["maquette"],
        (
            [
                a.pk,
                a.partner.code,
                a.objective.axis.number,
                a.objective.code,
                a.year,
                a.amendment.number if a.amendment else None,
                a.amount,
                a.get_budget_nature_display(),
                a.programme.code if a.programme else "",
                provenance.get(a.provenance, a.provenance),
                a.source,
            ]
            for a in allocations.iterator()
        ),
    )
    ops = operation_queryset(contract=contract, user=user).select_related("owner", "objective")
    # A subquery, not a list: a register of 100,000 operations is no list of parameters (SQLite
    # refuses more than 32,766) and is not held in memory.
    op_ids = ops.values("pk")
    communes: dict[int, list[str]] = {}
    for op_id, code in (
        OperationCommune.objects.filter(operation__in=ops)
        .order_by("operation_id", "position")
        .values_list("operation_id", "commune_id")
    ):
        communes.setdefault(op_id, []).append(code)
    counts["operations"] = _write(
        out / "operations.csv",
        names["operations"],
        (
            [
                o.code,
                o.title,
                o.owner.name,
                o.owner.siret,
                o.owner.rna,
                o.owner.legal_category,
                " ".join(communes.get(o.pk, [])),
                o.departement_id,
                o.epci_id,
                o.objective.code,
                o.status,
                o.start_date,
                o.end_date,
                o.cost_ht,
                o.cost_ttc,
                o.cost_base,
                provenance.get(getattr(o, "provenance", ""), ""),
            ]
            for o in ops.order_by("code").iterator()
        ),
    )
    lines = (
        FinancingLine.objects.filter(operation_id__in=op_ids)
        .select_related("operation", "partner", "objective", "programme")
        .order_by("id")
    )
    counts["lignes_financement"] = _write(
        out / "lignes_financement.csv",
        names["lignes_financement"],
        (
            [
                line.pk,
                line.operation.code,
                line.financer_kind,
                line.partner.code if line.partner else "",
                line.financer_label,
                line.objective.code,
                line.amount,
                line.contractualised,
                line.get_budget_nature_display(),
                line.programme.code if line.programme else "",
                line.year,
                line.external_ref,
                line.status,
            ]
            for line in lines.iterator()
        ),
    )
    movements = Movement.objects.filter(
        financing_line__operation_id__in=op_ids, date__lte=as_of
    ).order_by("id")
    counts["mouvements"] = _write(
        out / "mouvements.csv",
        names["mouvements"],
        (
            [m.pk, m.financing_line_id, code, m.kind, m.date, m.amount, m.reference]
            for m, code in (
                (m, m.financing_line.operation.code)
                for m in movements.select_related("financing_line__operation").iterator()
            )
        ),
    )
    descriptor = {
        "name": f"cper-{contract.slug}",
        "title": f"{contract.title} — maquette, opérations, plans de financement et exécution",
        "description": (
            f"Données du contrat « {contract.title} » au {as_of.strftime('%d/%m/%Y')}, "
            "générées par cper. Montants en euros ; les montants marqués « illustratif » sont "
            "des données de démonstration."
        ),
        "created": timezone.now().replace(microsecond=0).isoformat(),
        "licenses": [
            {
                "name": "etalab-2.0",
                "title": "Licence Ouverte / Open Licence version 2.0",
                "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
            }
        ],
        "resources": [
            {
                "name": name,
                "path": f"{name}.csv",
                "title": spec["title"],
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "dialect": {"delimiter": ",", "header": True},
                "schema": {
                    "fields": spec["fields"],
                    "primaryKey": spec["primaryKey"],
                    **({"foreignKeys": spec["foreignKeys"]} if "foreignKeys" in spec else {}),
                    "missingValues": [""],
                },
            }
            for name, spec in RESOURCES.items()
        ],
    }
    (out / "datapackage.json").write_text(
        json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return counts
