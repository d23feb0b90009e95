"""Shared fixtures: the reference geography and the Hauts-de-France contract are loaded once per
test database (and again after a transactional test has flushed it)."""

from __future__ import annotations

import os
import subprocess
import sys
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
        # The reference file programmes each line by its partner's decision (CPER practice,
        # issue 12). Most tests build operations whose lines a committee avis programmes: they
        # run under the committee setting, and the tests of the partners' decisions switch the
        # contract to `partner_decision` themselves (tests/operations/test_partner_decisions.py).
        Contract.objects.filter(slug=HDF_SLUG).update(programming_mode="committee")


@pytest.fixture(autouse=True)
def _figures_cache_off(settings):  # type: ignore[no-untyped-def]
    """The factories write rows without the services (no audit entry), which the figures cache
    would not see: off in process, on in the tests of the cache itself (tests/web/
    test_figcache.py) and in the servers the browser tests start."""
    settings.CPER_FIGURES_CACHE_SECONDS = 0


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


@pytest.fixture
def hdf_as_filed(hdf):  # type: ignore[no-untyped-def]
    """The Hauts-de-France contract exactly as its file says, programming setting included: for
    the tests that load the file again and expect nothing to change."""
    from cper.contracts.loader import contract_file_parse
    from cper.contracts.models import Contract

    parsed, _ = contract_file_parse(HDF_FILE)
    Contract.objects.filter(pk=hdf.pk).update(programming_mode=parsed.settings.programming_mode)
    hdf.refresh_from_db()
    return hdf


@pytest.fixture(scope="session")
def browser_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file as `tests.browser.seed` prepares it (migrations, geography, the contract, a
    300-operation demo), once per test process: the browser tests' server and the ProConnect
    browser test's each run on a copy of it (seeding costs some 15 s)."""
    folder = tmp_path_factory.mktemp("base-navigateur")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'cper.sqlite3'}",
        "CPER_VAR_DIR": str(folder),
        "DJANGO_DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "cper.settings",
    }
    subprocess.run(
        [sys.executable, "-m", "tests.browser.seed", str(HDF_FILE)],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    return folder / "cper.sqlite3"
