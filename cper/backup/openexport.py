"""The full export in open formats: everything a new database needs to be rebuilt, readable
without cper (YAML, CSV, JSON lines), described by a `datapackage.json`.

    datapackage.json              the package: each file, its format, its sha256
    utilisateurs.csv              the accounts, without any password or hash
    journal_audit.jsonl           the whole audit trail, one JSON object per entry, in order
    contrats/SLUG/contrat.yaml    the contract in the format of `cper contract load`: structure,
                                  maquette (version 0 as explicit lines) and every amendment
    contrats/SLUG/operations.csv  the register (one row per financing line, the long layout
                                  `cper import operations` reads back)
    contrats/SLUG/mouvements.csv  the ledger: commitments, decommitments, payments and
                                  cancellations (each naming the movement it cancels), as
                                  `cper import movements` reads them
    contrats/SLUG/donnees/        the contract's open data package (`cper export datapackage`)

`cper.backup.services.full_import` reads it back through the services. Only reads here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from cper.accounts.models import User
from cper.audit.models import AuditEntry
from cper.audit.services import jsonable
from cper.contracts.models import (
    BudgetProgramme,
    Contract,
    ContractTerritory,
    Marker,
    PartnerStatedAmount,
)
from cper.formulas import InertCsvWriter
from cper.io import datapackage, exports, writers
from cper.io.cli import OPERATOR
from cper.maquette.models import Allocation, Amendment

USERS = "utilisateurs.csv"
AUDIT = "journal_audit.jsonl"
CONTRACTS = "contrats"
CONTRACT_FILE = "contrat.yaml"
OPERATIONS_FILE = "operations.csv"
MOVEMENTS_FILE = "mouvements.csv"
OPEN_DATA_DIR = "donnees"
PACKAGE = "datapackage.json"

USER_FIELDS = [
    ("identifiant", "string", "identifiant de connexion"),
    ("prenom", "string", "prénom"),
    ("nom", "string", "nom"),
    ("courriel", "string", "adresse électronique"),
    ("role", "string", "rôle (administrator, instructor, partner_manager, observer, public)"),
    ("organisation", "string", "code de l'organisation"),
    ("actif", "boolean", "compte actif"),
    ("equipe", "boolean", "accès à l'administration"),
    ("inscrit_le", "datetime", "date de création du compte"),
    ("derniere_connexion", "datetime", "dernière connexion"),
]
AUDIT_FIELDS = [
    ("id", "integer", "numéro de l'entrée"),
    ("date", "datetime", "date (UTC)"),
    ("utilisateur", "string", "identifiant de l'utilisateur (vide : système)"),
    ("chemin", "string", "web, import, api, cli, admin ou system"),
    ("action", "string", "action (liste fermée cper.audit.actions)"),
    ("type_objet", "string", "type de l'objet"),
    ("id_objet", "string", "identifiant de l'objet dans la base d'origine"),
    ("objet", "string", "libellé de l'objet"),
    ("contrat", "integer", "identifiant du contrat dans la base d'origine"),
    ("operation", "integer", "identifiant de l'opération dans la base d'origine"),
    ("modifications", "object", "valeurs avant / après"),
    ("motif", "string", "motif"),
]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _sourced(amount: Decimal, provenance: str, source: str) -> dict[str, Any]:
    out: dict[str, Any] = {"amount": _money(amount), "provenance": provenance}
    if source:
        out["source"] = source
    return out


def _notes(text: str) -> list[dict[str, str]]:
    """The loader joins the notes as "[key] text" paragraphs: split them back."""
    out: list[dict[str, str]] = []
    for block in text.split("\n\n"):
        match = re.match(r"\[([^\]]+)\] (.*)", block, re.S)
        if match:
            out.append({"key": match[1], "text": match[2]})
        elif out:  # a paragraph break inside a note's text
            out[-1]["text"] += "\n\n" + block
        elif block.strip():
            out.append({"key": "note", "text": block})
    return out


def _line(a: Allocation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "partner": a.partner.code,
        "objective": a.objective.code,
        "year": a.year,
        "amount": _money(a.amount),
        "budget_nature": a.budget_nature,
        "provenance": a.provenance,
    }
    if a.note:
        out["note"] = a.note
    if a.programme is not None:
        out["programme"] = a.programme.code
    if a.source:
        out["source"] = a.source
    return out


def contract_document(contract: Contract) -> dict[str, Any]:
    """The contract as the data file `cper contract load` reads (`cper.contracts.schema`): the
    maquette's version 0 as explicit lines, each amendment as its explicit changes — loading it
    into an empty database gives the same contract, maquette and amendments."""
    stated: dict[int, list[PartnerStatedAmount]] = {}
    for s in PartnerStatedAmount.objects.filter(partner__contract=contract).select_related("axis"):
        stated.setdefault(s.partner_id, []).append(s)
    partners = []
    for p in contract.partners.select_related("organisation").order_by("position", "code"):
        item: dict[str, Any] = {
            "code": p.code,
            "kind": p.kind,
            "name": p.name,
            "short_name": p.short_name,
            "insee_code": p.insee_code,
            "siren": p.siren,
            "siret": p.siret,
            "budget_nature": p.budget_nature,
            "signatory": p.signatory,
            "organisation": {
                "code": p.organisation.code,
                "name": p.organisation.name,
                "siren": p.organisation.siren,
            },
        }
        amounts = sorted(stated.get(p.pk, []), key=lambda s: s.axis.number if s.axis else 0)
        for s in amounts:
            if s.axis is None:
                item["stated_total"] = _sourced(s.amount, s.provenance, s.source)
            else:
                item.setdefault("stated_by_axis", []).append(
                    {"axis": s.axis.number, **_sourced(s.amount, s.provenance, s.source)}
                )
        partners.append(item)
    axes = []
    for ax in contract.axes.order_by("number"):
        axis: dict[str, Any] = {"number": ax.number, "title": ax.title}
        if ax.stated_share is not None or ax.share_note or ax.share_source:
            axis["share"] = {
                "value": None if ax.stated_share is None else str(ax.stated_share),
                "note": ax.share_note,
                "source": ax.share_source,
            }
        axis["objectives"] = [
            {"code": o.code, "title": o.title} for o in ax.objectives.order_by("position", "code")
        ]
        axes.append(axis)
    territories: list[dict[str, Any]] = []
    for link in ContractTerritory.objects.filter(contract=contract).select_related("territory"):
        t = link.territory
        territories.append(
            {
                "code": t.code,
                "name": t.name,
                "description": t.description,
                "source": t.source,
                "epcis": sorted(t.epcis.values_list("siren", flat=True)),
                "communes": sorted(t.communes.values_list("code", flat=True)),
            }
        )
    territories.sort(key=lambda t: t["code"])
    markers = []
    for m in Marker.objects.filter(contract=contract).order_by("code"):
        markers.append(
            {
                "code": m.code,
                "label": m.label,
                "description": m.description,
                "objectives": sorted(m.objectives.values_list("code", flat=True)),
                "contributions": [
                    {
                        "axis": c.axis.number,
                        "statement": c.statement,
                        "themes": list(c.themes),
                        "territories": sorted(c.territories.values_list("code", flat=True)),
                    }
                    for c in m.contributions.select_related("axis").order_by("axis__number")
                ],
            }
        )
    allocations = (
        Allocation.objects.filter(contract=contract)
        .select_related("partner", "objective", "programme")
        .order_by("partner__position", "objective__code", "year", "note", "id")
    )
    v0 = [_line(a) for a in allocations if a.amendment_id is None]
    changes: dict[int, list[dict[str, Any]]] = {}
    for a in allocations:
        if a.amendment_id is not None:
            changes.setdefault(a.amendment_id, []).append(_line(a))
    amendments = [
        {
            "number": am.number,
            "title": am.title,
            "kind": am.kind,
            "adopted_on": am.adopted_on,
            "signed_on": am.signed_on,
            "effective_on": am.effective_on,
            "decision_ref": am.decision_ref,
            "rationale": am.rationale,
            "provenance": am.provenance,
            "source": am.source,
            "changes": changes.get(am.pk, []),
        }
        for am in Amendment.objects.filter(contract=contract).order_by("number")
    ]
    return {
        "slug": contract.slug,
        "title": contract.title,
        "region": contract.region_id,
        "period": {"start": contract.start_year, "end": contract.end_year},
        "status": contract.status,
        "description": contract.description,
        "envelope": _sourced(
            contract.envelope, contract.envelope_provenance, contract.envelope_source
        ),
        "signature": {
            "date": contract.signature_date,
            "place": contract.signature_place,
            "source": contract.signature_source,
        },
        "settings": {
            "share_tolerance": str(contract.share_tolerance),
            "over_programming": contract.over_programming,
            "execution_tolerance": _money(contract.execution_tolerance),
        },
        "notes": _notes(contract.notes),
        "partners": partners,
        "axes": axes,
        "priorities": [
            {
                "number": pr.number,
                "title": pr.title,
                "axes": sorted(pr.axes.values_list("number", flat=True)),
            }
            for pr in contract.priorities.order_by("number")
        ],
        "territories": territories,
        "markers": markers,
        "programmes": [
            {
                "code": pg.code,
                "label": pg.label,
                "ministry": pg.ministry,
                "valid_from": pg.valid_from,
                "valid_to": pg.valid_to,
            }
            for pg in BudgetProgramme.objects.order_by("code")
        ],
        "maquette": {"lines": v0},
        "amendments": amendments,
    }


def contract_yaml(contract: Contract) -> str:
    header = (
        f"# {contract.title} — exporté par cper le {dt.date.today():%d/%m/%Y} (export complet).\n"
        "# Se recharge par « cper contract load » ; les montants sont des décimaux exacts.\n"
    )
    body = yaml.safe_dump(
        contract_document(contract), allow_unicode=True, sort_keys=False, width=100
    )
    return header + body


def _users() -> Iterator[list[Any]]:
    for u in User.objects.select_related("organisation").order_by("username"):
        yield [
            u.username,
            u.first_name,
            u.last_name,
            u.email,
            u.role,
            u.organisation.code if u.organisation else "",
            "true" if u.is_active else "false",
            "true" if u.is_staff else "false",
            u.date_joined.isoformat() if u.date_joined else "",
            u.last_login.isoformat() if u.last_login else "",
        ]


def audit_rows() -> Iterator[dict[str, Any]]:
    """The trail in the order it was written, as plain JSON values."""
    entries = AuditEntry.objects.select_related("user").order_by("id")
    for e in entries.iterator(chunk_size=2000):
        yield {
            "id": e.id,
            "date": e.at.astimezone(dt.UTC).isoformat(),
            "utilisateur": e.user.username if e.user else "",
            "chemin": e.via,
            "action": e.action,
            "type_objet": e.subject_type,
            "id_objet": e.subject_id,
            "objet": e.subject_repr,
            "contrat": e.contract_id,
            "operation": e.operation_id,
            "modifications": jsonable(e.changes),
            "motif": e.message,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ExportReport:
    output: Path
    contracts: list[str] = field(default_factory=list)
    users: int = 0
    audit_entries: int = 0
    files: int = 0


def _schema(fields: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {"fields": [{"name": n, "type": t, "title": title} for n, t, title in fields]}


def _write_package(root: Path, report: ExportReport) -> None:
    resources: list[dict[str, Any]] = [
        {
            "name": "utilisateurs",
            "path": USERS,
            "title": "Comptes (sans mot de passe ni empreinte de mot de passe)",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": _schema(USER_FIELDS),
        },
        {
            "name": "journal_audit",
            "path": AUDIT,
            "title": "Journal d'audit complet, dans l'ordre d'écriture",
            "format": "jsonl",
            "mediatype": "application/jsonl",
            "encoding": "utf-8",
            "schema": _schema(AUDIT_FIELDS),
        },
    ]
    for slug in report.contracts:
        base = f"{CONTRACTS}/{slug}"
        resources += [
            {
                "name": f"contrat-{slug}",
                "path": f"{base}/{CONTRACT_FILE}",
                "title": "Contrat, maquette et avenants (format de « cper contract load »)",
                "format": "yaml",
                "mediatype": "application/yaml",
            },
            {
                "name": f"operations-{slug}",
                "path": f"{base}/{OPERATIONS_FILE}",
                "title": "Registre des opérations, une ligne par ligne de financement "
                "(bloc d'en-tête, puis le tableau que lit « cper import operations »)",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
            },
            {
                "name": f"mouvements-{slug}",
                "path": f"{base}/{MOVEMENTS_FILE}",
                "title": "Grand livre : engagements, désengagements, paiements et annulations "
                "(bloc d'en-tête, puis le tableau que lit « cper import movements »)",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
            },
            {
                "name": f"donnees-{slug}",
                "path": f"{base}/{OPEN_DATA_DIR}/datapackage.json",
                "title": "Paquet de données ouvertes du contrat (Frictionless, tables typées)",
                "format": "json",
                "mediatype": "application/json",
            },
        ]
    for resource in resources:
        resource["hash"] = "sha256:" + _sha256(root / resource["path"])
    package = {
        "name": "cper-export-complet",
        "title": "Export complet d'une instance cper (formats ouverts)",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        # No licence for the whole: accounts and the audit trail are personal data, not open
        # data (the contract's `donnees/` package is the open part).
        "resources": resources,
    }
    (root / PACKAGE).write_text(json.dumps(package, ensure_ascii=False, indent=2), encoding="utf-8")


def _write_directory(root: Path) -> ExportReport:
    report = ExportReport(root)
    root.mkdir(parents=True, exist_ok=True)
    with (root / USERS).open("w", encoding="utf-8", newline="") as f:
        writer = InertCsvWriter(f)
        writer.writerow([n for n, _, _ in USER_FIELDS])
        for row in _users():
            writer.writerow(row)
            report.users += 1
    with (root / AUDIT).open("w", encoding="utf-8") as f:
        for entry in audit_rows():
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            report.audit_entries += 1
    for contract in Contract.objects.order_by("slug"):
        base = root / CONTRACTS / contract.slug
        base.mkdir(parents=True, exist_ok=True)
        (base / CONTRACT_FILE).write_text(contract_yaml(contract), encoding="utf-8")
        # The operator sees every operation, published or not.
        writers.write(
            exports.build("lines", contract, user=OPERATOR), "csv", base / OPERATIONS_FILE
        )
        writers.write(
            exports.build("movements", contract, user=OPERATOR), "csv", base / MOVEMENTS_FILE
        )
        datapackage.export(contract, base / OPEN_DATA_DIR, user=OPERATOR)
        report.contracts.append(contract.slug)
    _write_package(root, report)
    report.files = sum(1 for p in root.rglob("*") if p.is_file())
    return report


def full_export(*, output: Path) -> ExportReport:
    """Write the full export to the directory `output`, or to a zip file if it ends in .zip."""
    if output.suffix.lower() != ".zip":
        if output.exists() and any(output.iterdir()):
            raise FileExistsError(f"le dossier {output} n'est pas vide")
        return _write_directory(output)
    with tempfile.TemporaryDirectory(prefix="cper-export-") as tmp:
        report = _write_directory(Path(tmp) / "export")
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(report.output.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(report.output).as_posix())
    report.output = output
    return report


def open_package(source: Path, workdir: Path) -> Path:
    """The directory of an export: `source` itself, or a zip extracted under `workdir` (its
    members are checked to stay inside it)."""
    if source.is_dir():
        return source
    with zipfile.ZipFile(source) as z:
        for name in z.namelist():
            target = (workdir / name).resolve()
            if not target.is_relative_to(workdir.resolve()):
                raise ValueError(f"{source} : chemin refusé dans l'archive « {name} »")
        z.extractall(workdir)
    return workdir


__all__ = ["contract_document", "contract_yaml", "full_export", "open_package"]
