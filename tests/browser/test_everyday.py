"""The everyday loop in Debian's Chromium: a partner manager logs in, lands on its workspace,
records a commitment and a payment from an operation's page (htmx), sees the line's and the
dashboard's figures change, gets an overpayment refused on the amount field, and finds no form
on another partner's line. axe-core on the new pages."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from tests.browser.conftest import SLUG, PageWatch

BASE = f"/contrats/{SLUG}"


def _amount(text: str) -> Decimal:
    cleaned = re.sub(r"[^\d,-]", "", text).replace(",", ".")
    return Decimal(cleaned or "0")


def _login(page: PageWatch, username: str, password: str) -> None:
    p = page.page
    page.goto("/connexion/")
    p.fill("#id_username", username)  # type: ignore[attr-defined]
    p.fill("#id_password", password)  # type: ignore[attr-defined]
    p.locator("form button[type=submit]").first.click()  # type: ignore[attr-defined]
    p.wait_for_load_state("networkidle")  # type: ignore[attr-defined]


def _axe_serious(page: PageWatch) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page.page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _record(page: PageWatch, line_id: str, kind: str, amount: str, reference: str) -> None:
    p = page.page
    p.locator(f'[data-testid="record-{line_id}"]').click()  # type: ignore[attr-defined]
    form = p.locator(f'#mvt-form-{line_id} [data-testid="movement-form"]')  # type: ignore[attr-defined]
    form.wait_for()
    form.locator("select[name=kind]").select_option(kind)
    form.locator("input[name=date]").fill(dt.date.today().isoformat())
    form.locator("input[name=amount]").fill(amount)
    form.locator("input[name=reference]").fill(reference)
    with p.expect_response(  # type: ignore[attr-defined]
        lambda r: "/mouvement/" in r.url and r.request.method == "POST"
    ):
        form.locator("button[type=submit]").click()
    # htmx swaps the answer in once it has settled: wait until no request is in flight.
    p.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
    )


def test_a_partner_manager_records_a_commitment_and_a_payment_on_screen(page: PageWatch) -> None:
    p = page.page
    page.goto(f"{BASE}/partenaires/etat/")
    committed_before = _amount(p.locator('[data-testid="kpi-committed"]').inner_text())  # type: ignore[attr-defined]

    _login(page, "etat", "etat-demo")
    assert p.url.endswith(f"{BASE}/espace-partenaire/")  # type: ignore[attr-defined]
    assert _axe_serious(page) == []
    page.shot("espace-partenaire")

    # A line programmed and not committed, from the workspace's list: one large enough for
    # its commitment to show on the dashboard's figures (in millions of euros).
    rows = p.locator("#table-programmees-sans-engagement tbody tr")  # type: ignore[attr-defined]
    chosen = next(
        i
        for i in range(rows.count())
        if _amount(rows.nth(i).locator("td").last.inner_text()) >= 200_000
    )
    programmed = _amount(rows.nth(chosen).locator("td").last.inner_text())
    code = rows.nth(chosen).locator("th").inner_text()
    rows.nth(chosen).locator("a").click()
    p.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    line_id = p.url.rsplit("#ligne-", 1)[1]  # type: ignore[attr-defined]
    row = p.locator(f'[data-testid="execution-line-{line_id}"]')  # type: ignore[attr-defined]
    assert _amount(row.locator('[data-testid="committed"]').inner_text()) == 0

    _record(page, line_id, "commitment", f"{programmed}".replace(".", ","), "2100000001")
    row = p.locator(f'[data-testid="execution-line-{line_id}"]')  # type: ignore[attr-defined]
    assert _amount(row.locator('[data-testid="committed"]').inner_text()) == programmed
    _record(page, line_id, "payment", "400,00", "MDT-1")
    row = p.locator(f'[data-testid="execution-line-{line_id}"]')  # type: ignore[attr-defined]
    assert _amount(row.locator('[data-testid="paid"]').inner_text()) == Decimal("400.00")
    assert _axe_serious(page) == []
    page.shot("operation-execution")

    # An overpayment: refused on the amount field, in place; nothing changes.
    _record(page, line_id, "payment", f"{programmed}".replace(".", ","), "MDT-2")
    error = p.locator(f"#mvt-form-{line_id} .fr-error-text").first  # type: ignore[attr-defined]
    assert "engag" in error.inner_text()
    row = p.locator(f'[data-testid="execution-line-{line_id}"]')  # type: ignore[attr-defined]
    assert _amount(row.locator('[data-testid="paid"]').inner_text()) == Decimal("400.00")

    # Another partner's line on an operation offers no form.
    other = p.locator('[data-testid^="execution-line-"]')  # type: ignore[attr-defined]
    for i in range(other.count()):
        row_id = other.nth(i).get_attribute("data-testid").rsplit("-", 1)[1]
        label = other.nth(i).locator("th").inner_text()
        has_form = p.locator(f"#mvt-form-{row_id}").count() > 0  # type: ignore[attr-defined]
        assert has_form == label.startswith("État"), label

    # The partner's dashboard moved by the commitment; the line left the workspace's list.
    page.goto(f"{BASE}/partenaires/etat/")
    committed_after = _amount(p.locator('[data-testid="kpi-committed"]').inner_text())  # type: ignore[attr-defined]
    assert committed_after > committed_before
    page.goto(f"{BASE}/espace-partenaire/")
    waiting = p.locator("#table-programmees-sans-engagement tbody th").all_inner_texts()  # type: ignore[attr-defined]
    assert code not in waiting
    assert page.errors == []
