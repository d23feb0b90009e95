"""The block « Échéancier prévisionnel » of an operation's page (in the partner's words, its
htmx form replacing the schedule), the page « Prévisions » (CP needed, slippage; staff only,
bounded queries) and the partner workspace's slippage list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cper.audit.services import Actor
from cper.forecasts.models import LineSchedule
from cper.forecasts.selectors import current_schedules
from cper.forecasts.services import schedule_replace
from tests.finance import factories as ff

D = Decimal


@pytest.fixture
def lines(hdf):
    op = ff.operation(hdf, code="OP-ECH-1")
    state = ff.line(op, "etat", "100000.00")
    nord = ff.line(op, "dep-59", "60000.00")
    year = timezone.localdate().year
    # Due in full by the end of last year, nothing paid: behind its schedule.
    schedule_replace(
        actor=Actor.system(),
        line=state,
        rows=[(year - 1, D("100000"), D("40000")), (year + 1, D("0"), D("60000"))],
    )
    return {"op": op, "state": state, "nord": nord, "year": year}


def _detail(op):
    return reverse("operations:detail", kwargs={"slug": op.contract.slug, "pk": op.pk})


def test_block_speaks_the_partners_words_and_offers_the_form_on_its_own_lines(client, users, lines):
    client.force_login(users["state"])
    html = client.get(_detail(lines["op"])).content.decode()
    block = html.split('data-testid="schedule-block"')[1].split("</section>")[0]
    assert "AE prévues" in block and "CP prévus" in block  # the State's words
    assert "40 000,00" in block.replace("\u202f", " ").replace("\xa0", " ")
    assert f'data-testid="schedule-form-{lines["state"].pk}"' in block
    assert f'data-testid="schedule-form-{lines["nord"].pk}"' not in block  # not its line


def test_htmx_form_replaces_the_schedule_with_a_new_version(client, users, lines):
    client.force_login(users["nord"])
    nord = lines["nord"]
    url = reverse(
        "forecasts:schedule_edit", kwargs={"slug": nord.operation.contract.slug, "line_pk": nord.pk}
    )
    response = client.post(
        url,
        {f"ech-{nord.pk}-rows": "2026 ; 60 000 ; 20 000,50\n2027;;39 999,50"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.startswith('<section id="echeancier"')
    assert "(version 1)" in html
    assert "AP prévues" in html  # the département votes AP/CP
    assert current_schedules(line_ids=[nord.pk])[nord.pk].payments == {
        2026: D("20000.50"),
        2027: D("39999.50"),
    }


def test_a_schedule_above_the_line_is_shown_refused(client, users, lines):
    client.force_login(users["nord"])
    nord = lines["nord"]
    url = reverse(
        "forecasts:schedule_edit", kwargs={"slug": nord.operation.contract.slug, "line_pk": nord.pk}
    )
    response = client.post(
        url, {f"ech-{nord.pk}-rows": "2026 ; 90 000 ; 0"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "dépassent le montant de la ligne" in html
    assert not LineSchedule.objects.filter(line=nord).exists()


def test_another_partners_manager_may_not_post(client, users, lines):
    client.force_login(users["nord"])
    state = lines["state"]
    url = reverse(
        "forecasts:schedule_edit",
        kwargs={"slug": state.operation.contract.slug, "line_pk": state.pk},
    )
    response = client.post(url, {f"ech-{state.pk}-rows": "2026 ; 1 ; 1"})
    assert response.status_code == 403


def test_forecasts_page_shows_need_and_slippage_in_bounded_queries(
    client, users, lines, django_assert_max_num_queries
):
    client.force_login(users["observer"])
    url = reverse("forecasts:page", kwargs={"slug": lines["op"].contract.slug})
    year = lines["year"]
    with django_assert_max_num_queries(8):
        response = client.get(url, {"annee": year + 1})
    html = response.content.decode().replace("\u202f", " ").replace("\xa0", " ")
    needs = html.split('data-testid="needs"')[1].split("</table>")[0]
    # CP for next year 60 000 + 40 000 planned last year and unpaid = 100 000.
    assert "60 000,00 €" in needs and "40 000,00 €" in needs and "100 000,00 €" in needs
    alerts = html.split('data-testid="alerts"')[1].split("</table>")[0]
    assert "OP-ECH-1" in alerts and "engagements (AE)" in alerts and "paiements (CP)" in alerts


def test_forecasts_page_is_for_staff(client, users, lines):
    url = reverse("forecasts:page", kwargs={"slug": lines["op"].contract.slug})
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(users["public"])
    assert client.get(url).status_code == 403


def test_workspace_lists_the_partners_lines_behind_schedule(client, users, lines):
    client.force_login(users["state"])
    url = reverse("web:workspace", kwargs={"slug": lines["op"].contract.slug})
    html = client.get(url).content.decode()
    section = html.split('id="retards-echeancier"')[1]
    assert "OP-ECH-1" in section.split("</table>")[0]


def _scheduled_lines(contract, n, year):
    """`n` State and Nord lines on their own operations, each due in full last year with
    nothing committed nor paid: every line slips on commitments and on payments."""
    for i in range(n):
        op = ff.operation(contract)
        line = ff.line(op, "etat" if i % 2 else "dep-59", "50000.00")
        schedule_replace(
            actor=Actor.system(),
            line=line,
            rows=[(year - 1, D(20000 + 100 * i), D(15000 + 100 * i)), (year + 1, D(0), D(1000))],
        )


def _page_queries(client, url, year):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"annee": year + 1})
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_forecasts_page_queries_do_not_grow_with_the_lines_and_list_the_largest_slips(
    client, users, hdf
):
    client.force_login(users["observer"])
    url = reverse("forecasts:page", kwargs={"slug": hdf.slug})
    year = timezone.localdate().year
    _scheduled_lines(hdf, 10, year)
    with_10, html = _page_queries(client, url, year)
    assert 'fr-badge--no-icon">20</span>' in html
    assert "plus grands écarts sont listés" not in html  # 10 lines × 2 slips: all listed
    _scheduled_lines(hdf, 50, year)
    with_60, html = _page_queries(client, url, year)
    assert with_60 == with_10
    # 60 lines × (commitments, payments) = 120 slips, the 100 largest listed.
    assert 'fr-badge--no-icon">120</span>' in html
    assert "Les 100 plus grands écarts sont listés" in html
    needs = html.split('data-testid="needs"')[1].split("</table>")[0].replace("\u202f", " ")
    # Next year 60 × 1 000; carried (nothing paid) Σ(15 000 + 100 i) over i < 10 and i < 50:
    # 154 500 + 872 500 = 1 027 000; need 1 087 000.
    needs = needs.replace("\xa0", " ")
    assert "60 000,00 €" in needs and "1 027 000,00 €" in needs and "1 087 000,00 €" in needs
