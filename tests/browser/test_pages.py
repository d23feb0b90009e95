"""The pages as a person sees them, in Debian's Chromium: no console error, no failed request,
filters and the date change the figures, the map, the keyboard, and axe-core."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.browser.conftest import SLUG, PageWatch

BASE = f"/contrats/{SLUG}"
PAGES = {
    "tableau-de-bord": f"{BASE}/tableau-de-bord/",
    "contrat": f"{BASE}/",
    "territoires": f"{BASE}/territoires/",
    "territoires-epci": f"{BASE}/territoires/?niveau=epci&mesure=paid&rapport=habitant",
    "emploi-formation": f"{BASE}/emploi-formation-orientation/",
    "axe-2": f"{BASE}/axes/2/",
    "objectif-2-5": f"{BASE}/objectifs/2.5/",
    "partenaire-nord": f"{BASE}/partenaires/dep-59/",
    "departement-59": f"{BASE}/territoires/departements/59/",
    "epci-mel": f"{BASE}/territoires/epci/200093201/",
    "territoire-bassin-minier": f"{BASE}/territoires/projets/bassin-minier/",
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_without_error_and_passes_axe(page: PageWatch, name: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    response = page.goto(PAGES[name])
    assert response.status == 200  # type: ignore[attr-defined]
    assert page.page.locator("h1").first.is_visible()  # type: ignore[attr-defined]
    page.shot(name)
    results = Axe().run(page.page)
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    assert page.errors == []


def test_home_lands_on_the_dashboard(page: PageWatch) -> None:
    page.goto("/")
    assert page.page.url.endswith(f"{BASE}/tableau-de-bord/")  # type: ignore[attr-defined]
    assert page.errors == []


def _kpi(page: PageWatch, name: str) -> str:
    return page.page.locator(f'[data-testid="kpi-{name}"]').inner_text()  # type: ignore[attr-defined]


def test_a_filter_changes_the_figures(page: PageWatch) -> None:
    page.goto(PAGES["tableau-de-bord"])
    before = _kpi(page, "programmed")
    p = page.page
    p.select_option("#filtre-departement", "59")  # type: ignore[attr-defined]
    p.wait_for_url(re.compile(r"departement=59"))  # type: ignore[attr-defined]
    p.wait_for_function(  # type: ignore[attr-defined]
        "t => document.querySelector('[data-testid=kpi-programmed]').innerText !== t", arg=before
    )
    assert _kpi(page, "programmed") != before
    assert p.locator('[data-testid="active-filters"]').is_visible()  # type: ignore[attr-defined]
    page.shot("tableau-de-bord-nord")
    assert page.errors == []


def test_the_date_selector_changes_the_figures(page: PageWatch) -> None:
    page.goto(PAGES["tableau-de-bord"])
    before = _kpi(page, "committed")
    p = page.page
    p.fill("#as-of", "2022-06-30")  # type: ignore[attr-defined]
    p.click("#filters button[type=submit]")  # type: ignore[attr-defined]
    p.wait_for_url(re.compile(r"date=2022-06-30"))  # type: ignore[attr-defined]
    p.wait_for_function(  # type: ignore[attr-defined]
        "t => document.querySelector('[data-testid=kpi-committed]').innerText !== t", arg=before
    )
    assert _kpi(page, "committed") != before
    assert page.errors == []


def test_the_date_works_without_javascript(browser: object, server_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    p = context.new_page()
    p.goto(f"{server_url}{PAGES['tableau-de-bord']}?date=2022-06-30&departement=59")
    assert p.locator("#as-of").input_value() == "2022-06-30"
    assert p.locator("#filtre-departement").input_value() == "59"
    assert p.locator("table").count() >= 3
    context.close()


def test_the_map_has_one_region_per_departement(page: PageWatch) -> None:
    page.goto(PAGES["territoires"])
    areas = page.page.locator('[data-testid="map"] a.cper-map__area')  # type: ignore[attr-defined]
    codes = sorted(areas.nth(i).get_attribute("data-code") for i in range(areas.count()))
    assert codes == ["02", "59", "60", "62", "80"]
    assert "Nord" in areas.nth(1).get_attribute("aria-label")
    page.page.click('a.cper-map__area[data-code="59"]')  # type: ignore[attr-defined]
    page.page.wait_for_url(re.compile(r"/territoires/departements/59/"))  # type: ignore[attr-defined]
    assert page.errors == []


def test_the_epci_map_covers_the_region(page: PageWatch) -> None:
    page.goto(PAGES["territoires-epci"])
    areas = page.page.locator('[data-testid="map"] a.cper-map__area')  # type: ignore[attr-defined]
    assert areas.count() > 80
    legend = page.page.locator('[data-testid="legend"]').inner_text()  # type: ignore[attr-defined]
    assert "par habitant" in legend
    assert page.errors == []


def test_keyboard_reaches_the_main_controls(page: PageWatch) -> None:
    page.goto(PAGES["tableau-de-bord"])
    p = page.page
    reached: set[str] = set()
    for _ in range(60):
        p.keyboard.press("Tab")  # type: ignore[attr-defined]
        reached.add(
            p.evaluate(  # type: ignore[attr-defined]
                "() => { const e = document.activeElement;"
                " return e.id || e.getAttribute('href') || e.textContent.trim(); }"
            )
        )
    assert "#content" in reached  # the skip link
    assert f"{BASE}/territoires/" in reached  # the main navigation
    assert {"as-of", "filtre-axis", "filtre-departement"} <= reached


def test_a_table_exports_what_it_shows(page: PageWatch) -> None:
    page.goto(PAGES["tableau-de-bord"] + "?departement=59")
    p = page.page
    p.locator("#chart-par-axe summary").click()  # type: ignore[attr-defined]
    shown = p.locator("#table-par-axe tfoot").inner_text()  # type: ignore[attr-defined]
    with p.expect_download() as info:  # type: ignore[attr-defined]
        p.locator("#chart-par-axe a:has-text('CSV')").click()  # type: ignore[attr-defined]
    text = open(info.value.path(), encoding="utf-8-sig").read()  # noqa: SIM115
    total = [line for line in text.splitlines() if line.startswith("Total;")]
    assert total, text
    shown_programmed = Decimal(shown.split("\t")[2].replace("\u202f", "").replace("\u00a0€", ""))
    exported = Decimal(total[0].split(";")[2].replace(",", "."))
    assert exported.quantize(Decimal(1), rounding=ROUND_HALF_UP) == shown_programmed
