"""Entering an operation in Debian's Chromium (issue 13, item 4): an instructor fills the
operation form, finds a commune by its name (htmx search, ticked with the keyboard), creates the
project owner inline, submits with an error elsewhere, finds every typed value kept, corrects
it and gets the operation with its new owner. A known owner is found by name and chosen with the
arrow keys. axe-core: no serious or critical violation on the form."""

from __future__ import annotations

from cper.operations.rules import luhn_check_digit
from tests.browser.conftest import SLUG, PageWatch
from tests.browser.test_everyday import _axe_serious, _login

BASE = f"/contrats/{SLUG}/operations"


def _siret() -> str:
    """A valid SIRET no demo owner has (the demo's SIRENs never start with 99)."""
    siren = "99123456"
    siren += luhn_check_digit(siren)
    base = f"{siren}0001"
    return base + luhn_check_digit(base)


def _settled(page: PageWatch) -> None:
    page.page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
    )


def test_an_instructor_creates_an_owner_inline_and_the_form_keeps_its_values(
    page: PageWatch,
) -> None:
    p = page.page
    _login(page, "instructeur", "instructeur-demo")
    page.goto(f"{BASE}/nouvelle/")
    assert _axe_serious(page) == []
    siret = _siret()
    typed = {
        "#id_title": "Pôle culturel de Doullens",
        "#id_description": "Réhabilitation de l'ancien beffroi",
        "#id_new_owner_name": "Communauté de test du Doullennais",
        "#id_new_owner_siret": siret,
        "#id_new_owner_commune": "Doullens",
        "#id_start_date": "2025-03-01",
        "#id_cost_ht": "douze",  # the error elsewhere
        "#id_cost_ttc": "2 400 000,00",
        "#id_physical_progress": "Études de programmation",
    }
    p.locator("label[for=id_owner_mode_1]").click()  # type: ignore[attr-defined]
    assert p.locator("#owner-new").is_visible()  # type: ignore[attr-defined]
    assert not p.locator("#owner-known").is_visible()  # type: ignore[attr-defined]
    for selector, value in typed.items():
        p.fill(selector, value)  # type: ignore[attr-defined]
    p.select_option("#id_new_owner_legal_category", "epci")  # type: ignore[attr-defined]
    objective = p.locator("#id_objective option").nth(3).get_attribute("value")  # type: ignore[attr-defined]
    p.select_option("#id_objective", objective)  # type: ignore[attr-defined]

    # A commune found by its name: the htmx search, then the keyboard.
    p.fill("#id_communes", "Amiens")  # type: ignore[attr-defined]
    p.locator("#id_commune_q").press_sequentially("Doulle", delay=30)  # type: ignore[attr-defined]
    p.locator("#commune-results input[value='80253']").wait_for()  # type: ignore[attr-defined]
    _settled(page)
    assert "Doullens (80253) — Somme" in p.locator("#commune-results").inner_text()  # type: ignore[attr-defined]
    p.locator("#id_commune_q").press("ArrowDown")  # type: ignore[attr-defined]
    p.keyboard.press("Space")  # type: ignore[attr-defined]
    assert p.input_value("#id_communes") == "Amiens, 80253"  # type: ignore[attr-defined]

    p.locator("form#operation-form ul.fr-btns-group button[type=submit]").click()  # type: ignore[attr-defined]
    p.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert "Le formulaire contient des erreurs" in p.content()  # type: ignore[attr-defined]
    assert p.locator("#id_cost_ht-desc-error").is_visible()  # type: ignore[attr-defined]
    for selector, value in typed.items():
        assert p.input_value(selector) == value, selector  # type: ignore[attr-defined]
    assert p.input_value("#id_new_owner_legal_category") == "epci"  # type: ignore[attr-defined]
    assert p.input_value("#id_objective") == objective  # type: ignore[attr-defined]
    assert p.input_value("#id_communes") == "Amiens, 80253"  # type: ignore[attr-defined]
    assert p.locator("#id_owner_mode_1").is_checked()  # type: ignore[attr-defined]
    assert p.locator("#owner-new").is_visible()  # type: ignore[attr-defined]
    assert _axe_serious(page) == []  # the form with its errors too
    page.shot("operation-form-erreurs")

    p.fill("#id_cost_ht", "2 000 000,00")  # type: ignore[attr-defined]
    p.locator("form#operation-form ul.fr-btns-group button[type=submit]").click()  # type: ignore[attr-defined]
    p.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    assert "/operations/nouvelle/" not in p.url  # type: ignore[attr-defined]
    body = p.content()  # type: ignore[attr-defined]
    assert "Communauté de test du Doullennais" in body
    assert "Pôle culturel de Doullens" in body
    # The only failure seen is the refused submission (400), which is the point.
    assert [e for e in page.errors if "400" not in e] == []


def test_a_known_owner_is_found_by_name_and_chosen_with_the_keyboard(page: PageWatch) -> None:
    p = page.page
    _login(page, "instructeur", "instructeur-demo")
    page.goto(f"{BASE}/nouvelle/")
    p.locator("#id_owner_q").press_sequentially("Commune", delay=30)  # type: ignore[attr-defined]
    p.locator("#owner-results input[name=owner_choice]").first.wait_for()  # type: ignore[attr-defined]
    _settled(page)
    assert "maître" in p.locator('[data-testid="owner-count"]').inner_text()  # type: ignore[attr-defined]
    radios = p.locator("#owner-results input[name=owner_choice]")  # type: ignore[attr-defined]
    assert radios.count() >= 2
    p.locator("#id_owner_q").press("ArrowDown")  # type: ignore[attr-defined]
    p.keyboard.press("Space")  # type: ignore[attr-defined]
    p.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
    second = radios.nth(1)
    assert second.is_checked()
    assert p.input_value("#id_owner_identifier") == second.get_attribute("value")  # type: ignore[attr-defined]
    assert second.get_attribute("data-owner-name") in p.locator("#owner-chosen").inner_text()  # type: ignore[attr-defined]
    assert _axe_serious(page) == []
    assert page.errors == []
