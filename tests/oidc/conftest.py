"""The local OpenID provider of the ProConnect tests (`provider.mjs`, the npm `oidc-provider`
package installed by `.ci/run` into tests/oidc/node_modules), started by the tests, never a real
one, and cper's ProConnect settings pointing to it.

Without node or the package, the tests are skipped locally and fail under CI (CI=true): there,
a missing install step must not pass for a green run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
CLIENT_ID = "cper-test"
CLIENT_SECRET = "cper-test-secret"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} : .ci/run doit l'installer")
    pytest.skip(reason)


@contextmanager
def oidc_provider(cper_url: str) -> Iterator[str]:
    """Run the local provider for a cper served at `cper_url`; yields its issuer."""
    node = shutil.which("node")
    if node is None:
        _missing("node introuvable")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        _missing("oidc-provider absent (cd tests/oidc && npm ci)")
    proc = subprocess.Popen(
        [str(node), str(HERE / "provider.mjs")],
        env={
            **os.environ,
            "PORT": "0",
            "CPER_URL": cper_url,
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the library's warnings about its development defaults
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready <issuer>", or "" if it died
        if not line.startswith("ready "):
            raise RuntimeError(f"le fournisseur OpenID local n'a pas démarré ({proc.wait(10)})")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def proconnect_settings(issuer: str) -> dict[str, Any]:
    """cper's settings when ProConnect's variables name the local provider (settings.py's
    ProConnect block, as the environment would set it)."""
    from django.conf import settings

    backends = [
        b for b in settings.AUTHENTICATION_BACKENDS if b != "cper.accounts.oidc.ProConnectBackend"
    ]
    return {
        "PROCONNECT_ENABLED": True,
        "PROCONNECT_CLIENT_ID": CLIENT_ID,
        "PROCONNECT_CLIENT_SECRET": CLIENT_SECRET,
        "PROCONNECT_ISSUER": issuer,
        "OIDC_RP_CLIENT_ID": CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
        "AUTHENTICATION_BACKENDS": [*backends, "cper.accounts.oidc.ProConnectBackend"],
    }


@pytest.fixture(scope="session")
def testserver_provider() -> Iterator[str]:
    """The provider for Django's test client (whose host is `testserver`)."""
    with oidc_provider("http://testserver") as issuer:
        yield issuer


@pytest.fixture
def proconnect(testserver_provider: str, settings: Any) -> Iterator[str]:
    """ProConnect configured against the local provider for one test."""
    from cper.accounts.oidc import discovery

    for key, value in proconnect_settings(testserver_provider).items():
        setattr(settings, key, value)
    discovery.cache_clear()
    yield testserver_provider
    discovery.cache_clear()
