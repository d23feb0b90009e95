"""Browser tests: a real server (`cper runserver`) on a free port, against a copy of a SQLite file
prepared once per test process (migrate, geography, the Hauts-de-France contract, a small demo:
one process, `tests/browser/seed.py`, the `browser_database` fixture of tests/conftest.py),
driven by Playwright with Debian's Chromium — never a downloaded browser, never the network.

Under pytest-xdist the browser tests form one group (`xdist_group`), so one worker starts one
server; the ProConnect browser test (tests/oidc/) is in the group too and copies the same file.
Playwright lives for the module only: while it runs, its event loop is marked running in the
main thread, and Django refuses database access there ("async context"), so it must be gone
before the next module's database tests in the same process.

Screenshots of each page go to var/screenshots/ (kept by CI as artefacts, not committed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CPER_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
SLUG = "hauts-de-france-2021-2027"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium introuvable ({CHROMIUM}) : apt-get install chromium")
    folder = tmp_path_factory.mktemp("browser")
    shutil.copyfile(request.getfixturevalue("browser_database"), folder / "cper.sqlite3")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'cper.sqlite3'}",
        "CPER_VAR_DIR": str(folder),
        "DJANGO_DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "cper.settings",
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cper.cli", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/contrats/{SLUG}/", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "server.log").read_text()) from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageWatch:
    """A Playwright page that records console errors and failed requests."""

    def __init__(self, page: object, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))  # type: ignore[attr-defined]
        page.on("pageerror", lambda e: self.errors.append(str(e)))  # type: ignore[attr-defined]
        # net::ERR_ABORTED is the browser cancelling a request because the page navigated on
        # (a favicon during a redirect); outside calls are refused with ERR_FAILED below.
        page.on(  # type: ignore[attr-defined]
            "requestfailed",
            lambda r: (
                r.failure != "net::ERR_ABORTED" and self.errors.append(f"échec {r.url} {r.failure}")
            ),
        )
        page.on(  # type: ignore[attr-defined]
            "response",
            lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status} {r.url}"),
        )
        # Anything leaving this machine would be a bug: no CDN, no tiles, no fonts from outside.
        page.route(  # type: ignore[attr-defined]
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(base) or route.request.url.startswith("data:")
                else (self.errors.append(f"réseau extérieur : {route.request.url}"), route.abort())
            ),
        )

    def goto(self, path: str) -> object:
        return self.page.goto(self.base + path, wait_until="networkidle")  # type: ignore[attr-defined]

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.fixture
def page(browser: object, server_url: str) -> Iterator[PageWatch]:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 900}, locale="fr-FR", accept_downloads=True
    )
    watch = PageWatch(context.new_page(), server_url)
    yield watch
    context.close()
