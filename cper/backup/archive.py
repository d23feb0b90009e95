"""The backup archive as a file: a tar.gz holding `manifest.json`, the database (`base/…`) and
the stored files (`fichiers/…`), each member's sha256 written in the manifest.

Nothing here touches the database: `cper.backup.services` builds the members and applies them.
Reading checks everything before anything is used — an archive whose members do not match
their manifest (a changed byte, a missing or an extra member, a path leaving the archive) is
refused as a whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST = "manifest.json"
FORMAT = "cper-sauvegarde"
FORMAT_VERSION = 1
DATABASE_DIR = "base"
FILES_DIR = "fichiers"
CHUNK = 1 << 20


class ArchiveError(Exception):
    """An archive refused, with the reason in French (shown as is by the commands)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def files_under(root: Path) -> Iterator[tuple[str, Path]]:
    """(posix path relative to root, file) for every regular file under root, sorted."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path.relative_to(root).as_posix(), path


def write_archive(output: Path, manifest: dict[str, Any], members: dict[str, Path]) -> None:
    """Write the archive: the manifest first (with every member's sha256 and size), then the
    members. Written beside `output` and renamed, so a failed backup leaves no partial file."""
    manifest = dict(manifest)
    manifest["members"] = {
        name: {"sha256": sha256_file(path), "size": path.stat().st_size}
        for name, path in sorted(members.items())
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partiel")
    body = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    with tarfile.open(partial, "w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(body), 0, 0o644
        tar.addfile(info, io.BytesIO(body))
        for name, path in sorted(members.items()):
            tar.add(str(path), arcname=name, recursive=False)
    partial.replace(output)


def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return (
        not pure.is_absolute()
        and ".." not in pure.parts
        and pure.parts[:1] in ((DATABASE_DIR,), (FILES_DIR,))
    )


@dataclass
class Extracted:
    """An archive read and checked: its manifest, and each member's file under `directory`."""

    manifest: dict[str, Any]
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def names(self, prefix: str) -> list[str]:
        return [n for n in self.manifest["members"] if n.startswith(prefix + "/")]


def _copy(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> Any:
    """Copy a member to `target`; return the sha256 of what was copied."""
    source = tar.extractfile(member)
    assert source is not None  # a regular file
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for block in iter(lambda: source.read(CHUNK), b""):
            digest.update(block)
            out.write(block)
    return digest


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest alone (what `cper restore --check` shows), without checking members."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.getmember(MANIFEST)
            f = tar.extractfile(member)
            if f is None:
                raise ArchiveError(f"{archive} : manifeste illisible")
            manifest: dict[str, Any] = json.loads(f.read().decode("utf-8"))
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise ArchiveError(f"{archive} n'est pas une sauvegarde cper lisible ({exc})") from exc
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("members"), dict):
        raise ArchiveError(f"{archive} n'est pas une sauvegarde cper (manifeste inconnu)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"{archive} : version de format {manifest.get('format_version')} inconnue de cette "
            f"version de cper (attendue : {FORMAT_VERSION})"
        )
    return manifest


def extract_verified(archive: Path, directory: Path) -> Extracted:
    """Extract every member into `directory` while computing its sha256; raise ArchiveError
    (nothing is to be restored) if any member differs from the manifest."""
    manifest = read_manifest(archive)
    expected: dict[str, dict[str, Any]] = manifest["members"]
    seen: set[str] = set()
    problems: list[str] = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name
                if name == MANIFEST:
                    continue
                if not member.isfile() or not _safe_name(name) or name not in expected:
                    problems.append(f"membre inattendu « {name} »")
                    continue
                target = directory / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = _copy(tar, member, target)
                seen.add(name)
                if digest.hexdigest() != expected[name]["sha256"]:
                    problems.append(f"l'empreinte sha256 de « {name} » ne correspond pas")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{archive} : archive illisible ou tronquée ({exc})") from exc
    problems += [f"membre manquant « {n} »" for n in sorted(set(expected) - seen)]
    if problems:
        raise ArchiveError(
            f"{archive} : archive altérée, rien n'a été restauré — " + " ; ".join(problems)
        )
    return Extracted(manifest, directory)
