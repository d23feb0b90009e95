"""The Content-Security-Policy enforced by Chromium: the pages, signed out and signed in, the
relevé de décisions and the API's documentation load without a single violation (no inline
script or style left, nothing from outside the site)."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SLUG, PageWatch

BASE = f"/contrats/{SLUG}"
# Playwright's init scripts run outside the page's policy: the listener sees every violation.
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""
PUBLIC = [
    f"{BASE}/tableau-de-bord/",
    f"{BASE}/",
    f"{BASE}/territoires/",
    f"{BASE}/territoires/?niveau=epci&mesure=paid&rapport=habitant",
    f"{BASE}/axes/2/",
    f"{BASE}/emploi-formation-orientation/",
    f"{BASE}/maquette/",
    f"{BASE}/operations/",
    "/connexion/",
    "/api/v1/docs",
]
SIGNED_IN = [
    f"{BASE}/operations/comites/",
    f"{BASE}/donnees/",
    "/compte/jetons/",
]


def _violations(page: PageWatch) -> list[str]:
    found = list(page.page.evaluate("window.__csp"))  # type: ignore[attr-defined]
    return found + [e for e in page.errors if "Content Security Policy" in e]


def _visit(page: PageWatch, path: str) -> list[str]:
    response = page.goto(path)
    assert response.status == 200, path  # type: ignore[attr-defined]
    policy = response.headers["content-security-policy"]  # type: ignore[attr-defined]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    return _violations(page)


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages_break_no_rule_of_the_csp(page: PageWatch, path: str) -> None:
    page.page.add_init_script(LISTEN)  # type: ignore[attr-defined]
    assert _visit(page, path) == []


def test_the_browser_enforces_the_policy(page: PageWatch) -> None:
    """The listener above does see what the policy refuses: an inline style added to the page
    is refused and reported."""
    page.page.add_init_script(LISTEN)  # type: ignore[attr-defined]
    assert _visit(page, f"{BASE}/tableau-de-bord/") == []
    applied = page.page.evaluate(  # type: ignore[attr-defined]
        """async () => {
          const style = document.createElement("style");
          style.textContent = "body { margin-left: 123px; }";
          document.head.appendChild(style);
          await new Promise((resolve) => setTimeout(resolve, 200));
          return getComputedStyle(document.body).marginLeft;
        }"""
    )
    assert applied != "123px"
    assert any(v.startswith("style-src") for v in _violations(page))
    page.errors.clear()


def test_signed_in_pages_and_the_printable_minutes_break_no_rule(page: PageWatch) -> None:
    p = page.page
    p.add_init_script(LISTEN)  # type: ignore[attr-defined]
    page.goto("/connexion/")
    p.fill("#id_username", "instructeur")  # type: ignore[attr-defined]
    p.fill("#id_password", "instructeur-demo")  # type: ignore[attr-defined]
    p.locator("form button[type=submit], form input[type=submit]").last.click()  # type: ignore[attr-defined]
    p.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    for path in SIGNED_IN:
        assert _visit(page, path) == [], path
    # A committee's relevé de décisions: its print styles carry the request's nonce.
    page.goto(f"{BASE}/operations/comites/")
    link = p.locator("a[href*='/comites/']").filter(has_text=re.compile(r"\S")).nth(0)  # type: ignore[attr-defined]
    committee = link.get_attribute("href")
    assert _visit(page, committee.rstrip("/") + "/releve/") == []
    # The styles did apply: the table of decisions has its borders.
    border = p.evaluate(  # type: ignore[attr-defined]
        "getComputedStyle(document.querySelector('td')).borderTopStyle"
    )
    assert border == "solid"
