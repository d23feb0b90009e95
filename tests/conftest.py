"""Shared fixtures: the reference geography and the Hauts-de-France contract are loaded once per
test database (and again after a transactional test has flushed it)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HDF_SLUG = "hauts-de-france-2021-2027"
HDF_FILE = ROOT / "contracts" / f"{HDF_SLUG}.yaml"


def ensure_reference_data() -> None:
    from cper.audit.services import Actor
    from cper.contracts.models import Contract
    from cper.loading import contract_load
    from cper.territories.models import Region
    from cper.territories.services import geography_load

    if not Region.objects.exists():
        geography_load()
    if not Contract.objects.filter(slug=HDF_SLUG).exists():
        contract_load(path=HDF_FILE, actor=Actor.system())


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        ensure_reference_data()


@pytest.fixture
def hdf(db):  # type: ignore[no-untyped-def]
    """The Hauts-de-France CPER 2021-2027 as loaded from its data file."""
    from cper.contracts.models import Contract

    ensure_reference_data()
    return Contract.objects.get(slug=HDF_SLUG)


@pytest.fixture
def hdf_without_maquette(hdf):  # type: ignore[no-untyped-def]
    """The Hauts-de-France contract with its maquette and amendments removed, inside the test's
    transaction: for tests that build a small maquette of their own on the real contract."""
    from cper.maquette.models import Allocation, Amendment

    Allocation.objects.filter(contract=hdf).delete()
    Amendment.objects.filter(contract=hdf).delete()
    return hdf
