"""Writes of the territories app: (re)loading the reference geography (régions, départements,
EPCI, communes) and the project territories a contract file names. Audited."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from cper.audit.actions import AuditAction
from cper.audit.services import (
    Actor,
    Subject,
    UpsertDraft,
    Upserted,
    audit_record,
    audited_upsert_many,
)
from cper.territories.models import Commune, Departement, Epci, ProjectTerritory, Region

DATA_DIR = Path(__file__).resolve().parent / "data"
FRANCE_DIR = DATA_DIR / "france"


@dataclass(frozen=True)
class GeoLoadReport:
    regions: int
    departements: int
    epcis: int
    communes: int


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _siren_by_insee() -> dict[tuple[str, str], str]:
    path = DATA_DIR / "hauts-de-france" / "collectivites-siren.csv"
    return {(r["categorie"], r["code_insee"]): r["siren"] for r in _rows(path)}


@transaction.atomic
def geography_load(
    *,
    actor: Actor | None = None,
    directory: Path = FRANCE_DIR,
    progress: Callable[[str], None] | None = None,
) -> GeoLoadReport:
    """Insert or update every région, département, EPCI and commune of the shipped files, and
    record the load in the audit trail (by the system unless `actor` says who).

    Idempotent: rows are keyed on INSEE codes and SIREN; running it twice changes no row.
    """
    say = progress or (lambda _msg: None)
    sirens = _siren_by_insee()
    regions = [
        Region(
            code=r["code"],
            name=r["nom"],
            chef_lieu=r["chefLieu"],
            siren=sirens.get(("REG", r["code"]), ""),
        )
        for r in _rows(directory / "regions.csv")
    ]
    Region.objects.bulk_create(
        regions,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "chef_lieu", "siren"],
    )
    say(f"{len(regions)} régions")
    deps = [
        Departement(
            code=r["code"],
            name=r["nom"],
            region_id=r["region"],
            chef_lieu=r["chefLieu"],
            siren=sirens.get(("DEPT", r["code"]), ""),
        )
        for r in _rows(directory / "departements.csv")
    ]
    Departement.objects.bulk_create(
        deps,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "region", "chef_lieu", "siren"],
    )
    say(f"{len(deps)} départements")
    epcis = [
        Epci(
            siren=r["siren"],
            name=r["nom"],
            kind=r["type"],
            population=int(r["population_municipale"] or 0),
        )
        for r in _rows(directory / "epci.csv")
    ]
    Epci.objects.bulk_create(
        epcis,
        update_conflicts=True,
        unique_fields=["siren"],
        update_fields=["name", "kind", "population"],
        batch_size=1000,
    )
    say(f"{len(epcis)} EPCI")
    known_epcis = {e.siren for e in epcis}
    communes = [
        Commune(
            code=r["code_insee"],
            name=r["nom"],
            departement_id=r["departement"],
            epci_id=r["epci_siren"] if r["epci_siren"] in known_epcis else None,
            siren=r["siren"],
            population=int(r["population"] or 0),
            postal_codes=r["codes_postaux"],
        )
        for r in _rows(directory / "communes.csv")
    ]
    Commune.objects.bulk_create(
        communes,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "departement", "epci", "siren", "population", "postal_codes"],
        batch_size=2000,
    )
    say(f"{len(communes)} communes")
    report = GeoLoadReport(len(regions), len(deps), len(epcis), len(communes))
    audit_record(
        actor=actor or Actor.system(),
        action=AuditAction.GEOGRAPHY_LOADED,
        subject=Subject("territories.geography", directory.name, "géographie de référence"),
        changes={
            "régions": {"avant": None, "après": report.regions},
            "départements": {"avant": None, "après": report.departements},
            "epci": {"avant": None, "après": report.epcis},
            "communes": {"avant": None, "après": report.communes},
        },
        message=f"fichiers : {directory.name}",
    )
    return report


@transaction.atomic
def project_territories_write(
    *, actor: Actor, drafts: list[UpsertDraft], contract_id: int | None
) -> list[Upserted]:
    """Create or update project territories keyed on their code (contract loader), audited."""
    return audited_upsert_many(
        actor=actor,
        model=ProjectTerritory,
        drafts=drafts,
        created=AuditAction.CONTRACT_LOAD_CREATED,
        updated=AuditAction.CONTRACT_LOAD_UPDATED,
        contract_id=contract_id,
    )


@transaction.atomic
def project_territory_members_set(
    *,
    actor: Actor,
    territory: ProjectTerritory,
    epcis: set[str],
    communes: set[str],
    contract_id: int | None,
) -> tuple[bool, bool]:
    """Make the territory's EPCI (SIREN) and communes (INSEE codes) exactly these; audit a
    change. Returns whether each set changed."""
    changed = []
    for relation, wanted in (("epcis", epcis), ("communes", communes)):
        manager = getattr(territory, relation)
        current = set(manager.values_list("pk", flat=True))
        if current != wanted:
            manager.set(sorted(wanted))
            audit_record(
                actor=actor,
                action=AuditAction.CONTRACT_LOAD_UPDATED,
                subject=territory,
                changes={relation: {"avant": sorted(current), "après": sorted(wanted)}},
                contract_id=contract_id,
            )
        changed.append(current != wanted)
    return changed[0], changed[1]
