"""Backup and restore of the whole database and its stored files; the rebuild of a database
from the full open export.

`backup_create` writes one archive (`cper.backup.archive`): the database as the engine copies
it consistently while the application runs — PostgreSQL by `pg_dump --format=custom` on a
snapshot exported by a repeatable-read transaction (the manifest's counts are read in the same
snapshot), SQLite by its online backup API (the counts are read from the copy) — plus every
file under MEDIA_ROOT (uploaded import files), with a manifest.

`database_restore` is a database-level operation, not a domain write: it replaces the whole
database (`pg_restore`, or the SQLite backup API the other way) after checking the archive
(every sha256), the engine (a PostgreSQL backup goes back into PostgreSQL; across engines, the
open export of `cper.backup.openexport`) and that the target is empty. It writes no audit entry:
the restored trail is the backup's own, identical to what it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.db import connections, transaction
from django.db.backends.postgresql.client import DatabaseClient
from django.db.migrations.loader import MigrationLoader
from django.db.models import Model

from cper.accounts.models import Organisation, User
from cper.accounts.services import UserDraft, users_create
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.backup.archive import (
    DATABASE_DIR,
    FILES_DIR,
    FORMAT,
    FORMAT_VERSION,
    ArchiveError,
    extract_verified,
    files_under,
    read_manifest,
    write_archive,
)
from cper.backup.openexport import (
    AUDIT,
    CONTRACT_FILE,
    CONTRACTS,
    MOVEMENTS_FILE,
    OPERATIONS_FILE,
    PACKAGE,
    USERS,
    open_package,
)
from cper.contracts.models import Contract, Partner
from cper.finance.models import Movement
from cper.formulas import restore
from cper.io.imports import import_movements, import_operations
from cper.io.models import ImportLog
from cper.loading import contract_load
from cper.maquette.models import Allocation, Amendment
from cper.operations.models import Committee, Decision, FinancingLine, Operation
from cper.territories.models import Region
from cper.territories.services import geography_load

ENGINE_LABELS = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
DATABASE_MEMBERS = {
    "postgresql": f"{DATABASE_DIR}/cper.dump",
    "sqlite": f"{DATABASE_DIR}/cper.sqlite3",
}
MEDIA_PREFIX = f"{FILES_DIR}/media"

# The tables the manifest counts (and the restore checks), by their French names.
COUNTED: dict[str, type[Model]] = {
    "contrats": Contract,
    "partenaires": Partner,
    "avenants": Amendment,
    "lignes_de_maquette": Allocation,
    "operations": Operation,
    "lignes_de_financement": FinancingLine,
    "comites": Committee,
    "decisions": Decision,
    "mouvements": Movement,
    "utilisateurs": User,
    "journal_audit": AuditEntry,
    "imports": ImportLog,
}
# A database holding any of these is not empty (a restore would merge two histories).
CONTENT = ("contrats", "operations", "mouvements", "utilisateurs", "journal_audit")

Query = Callable[[str], Sequence[tuple[Any, ...]]]


class RestoreRefused(Exception):
    """A restore refused before anything was written, with the reason in French."""


def cper_version() -> str:
    try:
        return version("cper")
    except PackageNotFoundError:  # a source tree not installed
        return "inconnue"


def _engine(using: str) -> str:
    vendor = connections[using].vendor
    if vendor not in ENGINE_LABELS:
        raise ArchiveError(f"moteur de base non pris en charge : {vendor}")
    return vendor


def _state(query: Query, tables: set[str]) -> tuple[dict[str, int], dict[str, str]]:
    """The counts of the main tables and the last applied migration of each app, read through
    `query` (raw SQL, so that it reads a SQLite copy as well as the live database)."""
    counts = {
        label: int(query(f'SELECT COUNT(*) FROM "{model._meta.db_table}"')[0][0])
        if model._meta.db_table in tables
        else 0
        for label, model in COUNTED.items()
    }
    migrations: dict[str, str] = {}
    if "django_migrations" in tables:
        for app, name in query("SELECT app, name FROM django_migrations"):
            migrations[app] = max(migrations.get(app, ""), name)
    return counts, dict(sorted(migrations.items()))


def _django_query(using: str) -> Query:
    def run(sql: str) -> Sequence[tuple[Any, ...]]:
        with connections[using].cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    return run


def database_state(using: str = "default") -> tuple[dict[str, int], dict[str, str]]:
    """Counts and migrations of the live database."""
    tables = set(connections[using].introspection.table_names())
    return _state(_django_query(using), tables)


def pg_environment(using: str = "default") -> dict[str, str]:
    """The environment of pg_dump / pg_restore for Django's connection settings: the password
    goes through PGPASSWORD (never on a command line, where `ps` shows it)."""
    params = connections[using].settings_dict
    _, env = DatabaseClient.settings_to_cmd_args_env(params, [])
    out = {**os.environ, **{k: v for k, v in (env or {}).items() if v}}
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if params.get(key):
            out[name] = str(params[key])
    out["PGDATABASE"] = str(params["NAME"])
    return out


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ArchiveError(
            f"{args[0]} introuvable : installez le client PostgreSQL (paquet postgresql-client)"
        ) from exc
    if done.returncode != 0:
        raise ArchiveError(f"{what} a échoué (code {done.returncode}) : {done.stderr.strip()}")


@dataclass
class BackupReport:
    output: Path
    manifest: dict[str, Any]


def backup_create(*, output: Path, using: str = "default") -> BackupReport:
    """Write the archive of the database `using` and of MEDIA_ROOT to `output` (see the module).
    Reads only: the database is not locked for writers while it is copied."""
    engine = _engine(using)
    media_root = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(prefix="cper-sauvegarde-") as tmp:
        db_file = Path(tmp) / Path(DATABASE_MEMBERS[engine]).name
        if engine == "postgresql":
            counts, migrations = _pg_dump(db_file, using)
        else:
            counts, migrations = _sqlite_copy(db_file, using)
        members = {DATABASE_MEMBERS[engine]: db_file}
        members |= {f"{MEDIA_PREFIX}/{rel}": path for rel, path in files_under(media_root)}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "cper_version": cper_version(),
            "django_version": django.get_version(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "engine": engine,
            "database": {
                "member": DATABASE_MEMBERS[engine],
                "method": "pg_dump --format=custom"
                if engine == "postgresql"
                else "API de sauvegarde de SQLite",
            },
            "migrations": migrations,
            "counts": counts,
            "media_root": str(media_root),
        }
        write_archive(output, manifest, members)
    return BackupReport(output, read_manifest(output))


def _pg_dump(target: Path, using: str) -> tuple[dict[str, int], dict[str, str]]:
    connection = connections[using]
    # pg_dump reads the snapshot this transaction exports: the dump and the manifest's counts
    # are the same state of the database, whatever is written meanwhile.
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        tables = set(connection.introspection.table_names())
        state = _state(_django_query(using), tables)
        _run(
            ["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
            pg_environment(using),
            "pg_dump",
        )
    return state


def _sqlite_copy(target: Path, using: str) -> tuple[dict[str, int], dict[str, str]]:
    connection = connections[using]
    connection.ensure_connection()
    destination = sqlite3.connect(target)
    try:
        # The online backup API copies a consistent state while other connections write.
        connection.connection.backup(destination)
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        tables = {
            r[0] for r in destination.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        return _state(lambda sql: destination.execute(sql).fetchall(), tables)
    finally:
        destination.close()


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    counts: dict[str, int]
    media_files: int
    notes: list[str] = field(default_factory=list)


def _refuse_if_not_empty(using: str) -> None:
    counts, _ = database_state(using)
    found = {k: counts[k] for k in CONTENT if counts[k]}
    if found:
        detail = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in found.items())
        raise RestoreRefused(
            f"la base cible n'est pas vide ({detail}) : restaurez dans une base neuve "
            "(createdb, ou un nouveau fichier SQLite), ou ajoutez --force pour la remplacer "
            "entièrement"
        )


def _migration_notes(manifest: dict[str, Any]) -> list[str]:
    """Refuse a backup made by a newer cper (a migration this code does not know); note one made
    by an older cper (then `cper migrate` brings the restored base up to date)."""
    known = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    unknown = [
        f"{app}.{name}"
        for app, name in manifest.get("migrations", {}).items()
        if (app, name) not in known
        and app in {a for a, _ in known}  # an app this code does not install is ignored
    ]
    if unknown:
        raise RestoreRefused(
            "la sauvegarde vient d'une version plus récente de cper (migrations inconnues : "
            f"{', '.join(unknown)}) : installez au moins la version {manifest.get('cper_version')} "
            "avant de restaurer"
        )
    latest: dict[str, str] = {}
    for app, name in known:
        latest[app] = max(latest.get(app, ""), name)
    behind = [
        app for app, name in manifest.get("migrations", {}).items() if latest.get(app, "") > name
    ]
    if behind:
        return [
            "la sauvegarde précède des migrations de cette version (" + ", ".join(behind) + ") : "
            "lancez « cper migrate » après la restauration"
        ]
    return []


def database_restore(
    *, archive: Path, force: bool = False, using: str = "default"
) -> RestoreReport:
    """Restore `archive` into the database `using` and MEDIA_ROOT (see the module). Refused,
    before anything is written, for another engine, a newer cper, a non-empty database (unless
    `force`) or an archive whose sha256s do not match its manifest."""
    manifest = read_manifest(archive)
    engine = _engine(using)
    if manifest.get("engine") != engine:
        raise RestoreRefused(
            f"sauvegarde {ENGINE_LABELS.get(manifest.get('engine', ''), manifest.get('engine'))}"
            f", base cible {ENGINE_LABELS[engine]} : une sauvegarde se restaure dans le même "
            "moteur ; d'un moteur à l'autre, passez par l'export ouvert (cper export_full, puis "
            "cper import_full)"
        )
    notes = _migration_notes(manifest)
    if not force:
        _refuse_if_not_empty(using)
    media_root = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(prefix="cper-restauration-") as tmp:
        extracted = extract_verified(archive, Path(tmp))
        database = extracted.path(manifest["database"]["member"])
        connections[using].close()
        if engine == "postgresql":
            _run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    f"--dbname={connections[using].settings_dict['NAME']}",
                    str(database),
                ],
                pg_environment(using),
                "pg_restore",
            )
        else:
            _sqlite_restore(database, Path(connections[using].settings_dict["NAME"]))
        media = extracted.names(MEDIA_PREFIX)
        for name in media:
            target = media_root / name.removeprefix(MEDIA_PREFIX + "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(extracted.path(name), target)
    counts, _ = database_state(using)
    if counts != manifest["counts"]:
        differing = ", ".join(
            f"{k} {counts.get(k)} au lieu de {v}"
            for k, v in manifest["counts"].items()
            if counts.get(k) != v
        )
        raise ArchiveError(f"restauration incomplète : {differing}")
    if manifest.get("media_root") and manifest["media_root"] != str(media_root):
        notes.append(
            f"fichiers restaurés sous {media_root} (ils étaient sous {manifest['media_root']}) ; "
            "les imports en attente de confirmation les cherchent encore à l'ancien chemin"
        )
    return RestoreReport(manifest, counts, len(media), notes)


def _sqlite_restore(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target, timeout=20)
    try:
        # The backup API replaces the target's pages in one step, even if the file is open.
        src.backup(dst)
    finally:
        dst.close()
        src.close()


# --- the open export read back -------------------------------------------------------------


@dataclass
class FullImportReport:
    contracts: list[str] = field(default_factory=list)
    users: int = 0
    operations: dict[str, str] = field(default_factory=dict)
    movements: dict[str, str] = field(default_factory=dict)
    audit_copy: Path | None = None


def _verified_package(root: Path) -> dict[str, Any]:
    try:
        package: dict[str, Any] = json.loads((root / PACKAGE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RestoreRefused(f"{root} : {PACKAGE} absent ou illisible ({exc})") from exc
    problems = []
    for resource in package.get("resources", []):
        path = root / resource["path"]
        expected = str(resource.get("hash", "")).removeprefix("sha256:")
        if not path.is_file():
            problems.append(f"fichier manquant « {resource['path']} »")
        elif expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            problems.append(f"l'empreinte sha256 de « {resource['path']} » ne correspond pas")
    if problems:
        raise RestoreRefused(f"export altéré, rien n'a été importé — {' ; '.join(problems)}")
    return package


def _imported(report: Any, what: str, slug: str) -> str:
    if not report.ok:
        first = "; ".join(str(r) for r in report.rejections[:5])
        raise RestoreRefused(f"{slug} : {what} refusés, rien n'a été importé — {first}")
    return str(report.summary())


@transaction.atomic
def full_import(*, source: Path, actor: Actor) -> FullImportReport:
    """Rebuild an empty database from a full export (`cper.backup.openexport`) through the
    services, all or nothing: the reference geography if absent, each contract by the contract
    loader, the accounts (with a random password, to be reset), the registers by the operations
    importer and the ledger by the movements importer. The services write their own audit
    trail; the export's trail is kept as a file under MEDIA_ROOT (`reprise/`), not replayed."""
    _refuse_if_not_empty("default")
    report = FullImportReport()
    with tempfile.TemporaryDirectory(prefix="cper-reprise-") as tmp:
        root = open_package(source, Path(tmp))
        package = _verified_package(root)
        slugs = [
            r["name"].removeprefix("contrat-")
            for r in package["resources"]
            if r["name"].startswith("contrat-")
        ]
        if not Region.objects.exists():
            geography_load(actor=actor)
        contracts: dict[str, Contract] = {}
        for slug in slugs:
            contracts[slug], _ = contract_load(
                path=root / CONTRACTS / slug / CONTRACT_FILE, actor=actor
            )
            report.contracts.append(slug)
        organisations = {o.code: o for o in Organisation.objects.all()}
        with (root / USERS).open(encoding="utf-8", newline="") as f:
            drafts = [
                UserDraft(
                    username=row["identifiant"],
                    # No password travels: a random one, that nobody knows, until reset.
                    password=secrets.token_urlsafe(32),
                    role=row["role"],
                    organisation=organisations.get(row["organisation"]),
                    is_staff=row["equipe"] == "true",
                    first_name=row["prenom"],
                    last_name=row["nom"],
                    email=row["courriel"],
                )
                for row in (
                    # The open export neutralises formulas: the names read back as they were.
                    {k: restore(v) if isinstance(v, str) else v for k, v in raw.items()}
                    for raw in csv.DictReader(f)
                )
            ]
        report.users = len(users_create(actor=actor, drafts=drafts))
        for slug, contract in contracts.items():
            base = root / CONTRACTS / slug
            report.operations[slug] = _imported(
                import_operations(
                    actor=actor,
                    contract=contract,
                    source=base / OPERATIONS_FILE,
                    file_name=OPERATIONS_FILE,
                    dry_run=False,
                ),
                "opérations",
                slug,
            )
            report.movements[slug] = _imported(
                import_movements(
                    actor=actor,
                    contract=contract,
                    source=base / MOVEMENTS_FILE,
                    file_name=MOVEMENTS_FILE,
                    dry_run=False,
                ),
                "mouvements",
                slug,
            )
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = Path(settings.MEDIA_ROOT) / "reprise" / f"journal_audit-{stamp}.jsonl"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / AUDIT, kept)
        report.audit_copy = kept
    return report
