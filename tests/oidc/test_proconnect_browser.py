"""ProConnect in a browser: an agent clicks « S’identifier avec ProConnect » on cper's sign-in
page, signs in at the local OpenID provider, comes back to the page it asked for, and holds the
role that its organisation's SIRET maps to (a Département du Nord agent records movements on
the Nord's line, not on another financer's; an agent of no partner is an observer). Signing out
ends the ProConnect session too.

A real server (`cper runserver`, settings from the environment as in production) on a copy of
the browser tests' SQLite file (`browser_database`, tests/conftest.py; `tests.oidc.seed` picks
the operation), the provider of tests/oidc/provider.mjs, Debian's Chromium
(see tests/browser/conftest.py). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, SCREENSHOTS, SLUG, _free_port
from tests.oidc.conftest import CLIENT_ID, CLIENT_SECRET, oidc_provider

# In the browser tests' group: the same worker then seeds their database once for both.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """cper served with ProConnect's variables naming the local provider; yields its URL, the
    provider's, and the operation the seed picked."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium introuvable ({CHROMIUM}) : apt-get install chromium")
    folder = tmp_path_factory.mktemp("proconnect")
    shutil.copyfile(request.getfixturevalue("browser_database"), folder / "cper.sqlite3")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'cper.sqlite3'}",
        "CPER_VAR_DIR": str(folder),
        "DJANGO_DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "cper.settings",
        "PYTHONUNBUFFERED": "1",
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.oidc.seed"],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    picked = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with oidc_provider(url) as issuer:
        env.update(
            PROCONNECT_CLIENT_ID=CLIENT_ID,
            PROCONNECT_CLIENT_SECRET=CLIENT_SECRET,
            PROCONNECT_ISSUER=issuer,
        )
        log = (folder / "server.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cper.cli", "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/connexion/", timeout=5):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((folder / "server.log").read_text()) from None
                    time.sleep(0.3)
            yield {"url": url, "issuer": issuer, **picked}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    """A fresh browser profile (no session at cper nor at the provider) that may reach cper and
    the provider only; `page.problems` lists failed requests, server errors and outside calls."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    p = context.new_page()
    p.problems = []
    ours = (site["url"], site["issuer"], "data:")

    def outside(route: Any) -> None:
        # The provider's development login page asks for web fonts: refused, but its own
        # business. cper's pages must ask for nothing outside.
        if not route.request.frame.url.startswith(site["issuer"]):
            p.problems.append(f"réseau extérieur : {route.request.url}")
        route.abort()

    def failed(r: Any) -> None:
        # A request the browser cancels because the page navigated on (the favicon during a
        # redirect to the provider) is net::ERR_ABORTED: no answer was refused.
        if r.url.startswith(ours) and r.failure != "net::ERR_ABORTED":
            p.problems.append(f"échec {r.url} {r.failure}")

    p.on("requestfailed", failed)
    p.on("response", lambda r: r.status >= 500 and p.problems.append(f"HTTP {r.status} {r.url}"))
    p.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(ours) else outside(route),
    )
    yield p
    context.close()


def sign_in_with_proconnect(page: Any, site: dict[str, Any], login: str) -> str:
    """From cper's sign-in page, asking for the operation's page; returns that page's path."""
    target = f"/contrats/{SLUG}/operations/{site['operation']}/"
    page.goto(f"{site['url']}/connexion/?next={target}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "proconnect-connexion.png"))
    page.get_by_role("button", name="S’identifier avec ProConnect").click()
    page.wait_for_url(f"{site['issuer']}/**")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("nimporte-lequel")
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{site['url']}{target}")
    return target


def test_the_sign_in_page_with_proconnect_passes_axe(page, site):
    from axe_playwright_python.sync_playwright import Axe

    page.goto(f"{site['url']}/connexion/")
    results = Axe().run(page)
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    assert page.problems == []


def test_an_agent_of_the_nord_signs_in_with_proconnect_as_the_nord_s_manager(page, site):
    sign_in_with_proconnect(page, site, "agent.nord")
    assert page.get_by_text("Camille Lefebvre").first.is_visible()
    # The partner manager's right: record a movement on the Nord's line, and only there.
    assert page.locator(f'[data-testid="record-{site["nord_line"]}"]').is_visible()
    assert page.locator(f'[data-testid="record-{site["other_line"]}"]').count() == 0
    page.screenshot(path=str(SCREENSHOTS / "proconnect-agent-nord.png"), full_page=True)

    # Signing out goes through ProConnect's end of session (the provider asks to confirm),
    # then back to cper, signed out of both.
    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_url(f"{site['issuer']}/session/end**")
    page.locator("button[name=logout][value=yes]").click()
    page.wait_for_url(f"{site['url']}/**")
    assert page.get_by_role("link", name="Se connecter").first.is_visible()
    page.goto(f"{site['url']}/connexion/")
    page.get_by_role("button", name="S’identifier avec ProConnect").click()
    page.wait_for_url(f"{site['issuer']}/**")
    assert page.locator("input[name=login]").is_visible()  # asked again: the session ended
    assert page.problems == []


def test_an_agent_of_no_partner_is_an_observer(page, site):
    sign_in_with_proconnect(page, site, "agent.inconnu")
    assert page.get_by_text("Dominique Bernard").first.is_visible()
    assert page.locator('[data-testid^="record-"]').count() == 0
    assert page.problems == []
