"""Writes of reference geography: (re)loading régions, départements, EPCI and communes."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from cper.territories.models import Commune, Departement, Epci, Region

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
    *, directory: Path = FRANCE_DIR, progress: Callable[[str], None] | None = None
) -> GeoLoadReport:
    """Insert or update every région, département, EPCI and commune of the shipped files.

    Idempotent: rows are keyed on INSEE codes and SIREN; running it twice changes nothing.
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
    return GeoLoadReport(len(regions), len(deps), len(epcis), len(communes))
