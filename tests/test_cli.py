"""The `cper` console script on a database that was never migrated: a French sentence naming
`cper migrate`, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cper(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'vide.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "cper.settings",
    }
    return subprocess.run(
        [sys.executable, "-c", "from cper.cli import main; main()", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_on_an_unmigrated_database_says_to_migrate_without_a_traceback(tmp_path):
    done = _cper(tmp_path, "contract", "list")
    assert done.returncode == 2
    assert "cper migrate" in done.stderr
    assert "Traceback" not in done.stderr


def test_migrate_itself_still_runs_on_an_empty_database(tmp_path):
    done = _cper(tmp_path, "showmigrations", "contracts")
    assert done.returncode == 0, done.stderr
    assert "[ ] 0001" in done.stdout
