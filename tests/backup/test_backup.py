"""`cper backup` / `cper restore` and the open export (`cper export_full` / `cper import_full`),
run as the operator runs them: separate processes on separate databases of the engine of the
run (PostgreSQL when DATABASE_URL names one — a database created by the test —, else SQLite
files). A restored or rebuilt database answers `cper execution` exactly as the original."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dj_database_url
import pytest

from tests.conftest import HDF_FILE, HDF_SLUG, ROOT

pytestmark = pytest.mark.xdist_group("servers")

BASE_URL = os.environ.get("DATABASE_URL", "")
POSTGRES = BASE_URL.startswith(("postgres://", "postgresql://"))


class Instance:
    """One cper installation: a database and a var directory (MEDIA_ROOT under it)."""

    def __init__(self, url: str, var: Path):
        self.url, self.var = url, var

    @property
    def media(self) -> Path:
        return self.var / "media"

    def run(self, *args: str, module: str = "cper.cli") -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "CPER_VAR_DIR": str(self.var),
            "DJANGO_SETTINGS_MODULE": "cper.settings",
        }
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def cper(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def probe(self, *, figures: bool = False) -> dict[str, Any]:
        """The audit trail and the accounts; with `figures`, what a user compares too: execution
        by partner (the Done-when line), by objective and year at a past date, and the maquette
        in force (tests/backup/probe.py, one process)."""
        done = self.run(*(["--figures"] if figures else []), module="tests.backup.probe")
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)  # type: ignore[no-any-return]


class Factory:
    """New empty databases of the run's engine, dropped at the end."""

    def __init__(self, tmp: Path):
        self.tmp, self.created = tmp, []  # type: ignore[var-annotated]
        self._migrated: Instance | None = None

    def new(self, name: str, template: Instance | None = None) -> Instance:
        """An empty database, or a copy of `template`'s database (not its files)."""
        var = self.tmp / name
        var.mkdir()
        if not POSTGRES:
            path = var / "cper.sqlite3"
            if template is not None:
                shutil.copyfile(template.var / "cper.sqlite3", path)
            return Instance(f"sqlite:///{path}", var)
        db = f"test_cper_backup_{name}_{uuid.uuid4().hex[:8]}"
        copy = f' TEMPLATE "{dj_database_url.parse(template.url)["NAME"]}"' if template else ""
        self._admin(f'CREATE DATABASE "{db}"{copy}')
        self.created.append(db)
        params = dj_database_url.parse(BASE_URL)
        port = params.get("PORT") or 5432
        auth = params["USER"] + (f":{params['PASSWORD']}" if params.get("PASSWORD") else "")
        return Instance(f"postgres://{auth}@{params['HOST']}:{port}/{db}", var)

    def new_migrated(self, name: str) -> Instance:
        """An empty database with every table, as `cper migrate` leaves it: migrated once, then
        copied (migrating costs seconds, more on PostgreSQL)."""
        if self._migrated is None:
            self._migrated = self.new("migree")
            self._migrated.cper("migrate", "--verbosity", "0")
        return self.new(name, template=self._migrated)

    def _admin(self, sql: str) -> None:
        import psycopg  # only on a PostgreSQL run

        params = dj_database_url.parse(BASE_URL)
        with psycopg.connect(
            host=params["HOST"],
            port=params.get("PORT") or 5432,
            user=params["USER"],
            password=params.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def drop_all(self) -> None:
        for db in self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


# Session scope, as tests/test_serve.py: interleaved tests of the "servers" group must not make
# the worker seed the source instance twice.
@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Factory]:
    f = Factory(tmp_path_factory.mktemp("sauvegarde"))
    yield f
    f.drop_all()


@pytest.fixture(scope="session")
def source(factory: Factory) -> Instance:
    """The Hauts-de-France contract, a 120-operation demo with its accounts, an uploaded file."""
    instance = factory.new("source")
    done = instance.run(str(HDF_FILE), module="tests.backup.seed")
    assert done.returncode == 0, done.stderr[-3000:]
    return instance


@pytest.fixture(scope="session")
def seen(source: Instance) -> dict[str, Any]:
    """What the source answers (audit trail, accounts, figures), read once: the tests compare
    other databases to it, and the one that restores over the source checks that it is back."""
    return source.probe(figures=True)


@pytest.fixture(scope="session")
def archive(source: Instance, factory: Factory) -> Path:
    path = factory.tmp / "cper.tar.gz"
    out = source.cper("backup", "--output", str(path))
    assert "manifeste" in out
    return path


def test_backup_then_restore_gives_the_same_execution_audit_trail_and_files(
    source: Instance, seen: dict[str, Any], archive: Path, factory: Factory
) -> None:
    manifest = _manifest(archive)
    assert manifest["engine"] == ("postgresql" if POSTGRES else "sqlite")
    assert manifest["counts"]["operations"] == 120 and manifest["counts"]["mouvements"] > 0
    assert manifest["migrations"]["finance"].startswith("00")
    assert "fichiers/media/imports/depot-operations.csv" in manifest["members"]

    target = factory.new("restauree")
    out = target.cper("restore", str(archive))
    assert "restaurée" in out and "vérifiés" in out

    assert target.probe(figures=True) == seen
    assert seen["audit"][0] > 1000 and len(seen["users"]) >= 5
    assert all(len(table.splitlines()) > 5 for table in seen["figures"])
    upload = Path("imports") / "depot-operations.csv"
    assert (target.media / upload).read_bytes() == (source.media / upload).read_bytes()


def test_restore_refuses_a_database_that_is_not_empty(
    source: Instance, seen: dict[str, Any], archive: Path
) -> None:
    before = {k: v for k, v in seen.items() if k != "figures"}
    done = source.run("restore", str(archive))
    assert done.returncode == 1
    assert "la base cible n'est pas vide" in done.stderr
    assert "--force" in done.stderr
    assert source.probe() == before
    # --force replaces the whole database: here by the same state.
    assert "restaurée" in source.cper("restore", str(archive), "--force")
    assert source.probe() == before


def _manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        return json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr, no-any-return]


def _rewritten(archive: Path, out: Path, *, member: str, change: Callable[[bytes], bytes]) -> Path:
    """A copy of the archive with one member changed by `change`."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for info in src:
            data = src.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == member:
                data = change(data)
                info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


def test_restore_refuses_a_tampered_archive_and_writes_nothing(
    archive: Path, factory: Factory
) -> None:
    manifest = _manifest(archive)
    database = manifest["database"]["member"]

    def flip_last_byte(data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 1])

    tampered = _rewritten(
        archive, factory.tmp / "alteree.tar.gz", member=database, change=flip_last_byte
    )
    target = factory.new("alteree")
    done = target.run("restore", str(tampered))
    assert done.returncode == 1
    assert "archive altérée, rien n'a été restauré" in done.stderr
    assert f"l'empreinte sha256 de « {database} » ne correspond pas" in done.stderr
    # Nothing was written: the new database has not even its tables.
    probe = target.run(module="tests.backup.probe")
    assert probe.returncode != 0
    assert "no such table" in probe.stderr or "does not exist" in probe.stderr


def test_restore_refuses_a_backup_of_another_engine(archive: Path, factory: Factory) -> None:
    other = "sqlite" if POSTGRES else "postgresql"

    def other_engine(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["engine"] = other
        return json.dumps(manifest).encode()

    moved = _rewritten(
        archive, factory.tmp / "autre.tar.gz", member="manifest.json", change=other_engine
    )
    done = factory.new("autre").run("restore", str(moved))
    assert done.returncode == 1
    assert "une sauvegarde se restaure dans le même moteur" in done.stderr
    assert "cper export_full" in done.stderr


def test_the_open_export_rebuilds_the_same_figures_in_a_fresh_database(
    source: Instance, seen: dict[str, Any], factory: Factory
) -> None:
    export = factory.tmp / "export.zip"
    out = source.cper("export_full", "--output", str(export))
    assert "datapackage.json" in out
    with zipfile.ZipFile(export) as z:
        names = set(z.namelist())
        package = json.loads(z.read("datapackage.json"))
        users = z.read("utilisateurs.csv").decode()
        contract = z.read(f"contrats/{HDF_SLUG}/contrat.yaml").decode()
        audit_lines = z.read("journal_audit.jsonl").decode().splitlines()
    assert {r["path"] for r in package["resources"]} <= names
    assert all(r["hash"].startswith("sha256:") for r in package["resources"])
    # Accounts without passwords: no column for it, no hash anywhere.
    assert "password" not in users.split("\n")[0] and "pbkdf2" not in users
    assert "maquette:" in contract and "amendments:" in contract
    assert len(audit_lines) == seen["audit"][0]

    target = factory.new_migrated("reprise")
    out = target.cper("import_full", str(export))
    assert "base reconstruite" in out and "0 rejetée(s)" in out

    rebuilt = target.probe(figures=True)
    assert rebuilt["figures"] == seen["figures"]
    assert rebuilt["users"] == seen["users"]
    # The trail is not replayed (the services wrote their own); the original is kept as a file.
    kept = list((target.media / "reprise").glob("journal_audit-*.jsonl"))
    assert len(kept) == 1 and len(kept[0].read_text().splitlines()) == len(audit_lines)


def test_import_full_refuses_a_tampered_export(source: Instance, factory: Factory) -> None:
    export = factory.tmp / "export-dossier"
    source.cper("export_full", "--output", str(export))
    users = export / "utilisateurs.csv"
    users.write_text(users.read_text() + "intrus,,,,administrator,,true,true,,\n")
    target = factory.new_migrated("reprise_alteree")
    done = target.run("import_full", str(export))
    assert done.returncode == 1
    assert "export altéré, rien n'a été importé" in done.stderr
    assert "utilisateurs.csv" in done.stderr
    assert target.probe()["users"] == []
