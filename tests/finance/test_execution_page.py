"""An operation's page shows each financing line's execution — the aggregation service's
figures to the cent — and lets the line's partner manager record movements, with the ledger's
refusals shown on the field concerned."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from cper.accounts.models import Organisation, Role, User
from cper.finance.aggregation import execution
from cper.finance.models import Movement
from tests.finance import factories as F

D = dt.date


def _user(role: str, org: str | None) -> User:
    return User.objects.create_user(
        username=f"u-{role}-{org}",
        role=role,
        organisation=Organisation.objects.get(code=org) if org else None,
    )


@pytest.fixture
def op(hdf):  # type: ignore[no-untyped-def]
    operation = F.operation(hdf, programmed_on=D(2022, 3, 15))
    operation.published = True
    operation.save(update_fields=["published"])
    state = F.line(operation, "etat", "1000.00")
    region = F.line(operation, "region", "500.00")
    F.record(state, "commitment", D(2022, 4, 1), "800.00", reference="EJ-1")
    pay = F.record(state, "payment", D(2022, 5, 1), "300.00", reference="MDT-1")
    F.record(state, "payment_cancellation", D(2022, 5, 2), "300.00", reference="ANN-1", cancels=pay)
    F.record(state, "payment", D(2022, 6, 1), "200.00", reference="MDT-2")
    F.record(region, "commitment", D(2022, 4, 2), "500.00", reference="AP-1")
    return operation


def _page(client, op) -> str:  # type: ignore[no-untyped-def]
    url = reverse("operations:detail", kwargs={"slug": op.contract.slug, "pk": op.pk})
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _cell(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1).replace("\u202f", " ").replace("\xa0", " ")


def _eur(value: Decimal) -> str:
    from cper.money import format_eur

    return format_eur(value).replace("\u202f", " ").replace("\xa0", " ")


def test_operation_page_shows_the_aggregation_services_figures_to_the_cent(client, op):
    html = _page(client, op)
    row = execution(
        contract=op.contract, group_by=["operation"], filters={"operation": op.code}
    ).rows[0]
    assert _cell(html, "x-programmed") == _eur(row.programmed) == _eur(Decimal("1500.00"))
    assert _cell(html, "x-committed") == _eur(row.committed) == _eur(Decimal("1300.00"))
    assert _cell(html, "x-paid") == _eur(row.paid) == _eur(Decimal("200.00"))
    assert _cell(html, "x-to-pay") == _eur(Decimal("1100.00"))
    assert "annulé</strong> par le n°" in html  # the cancelled payment is shown as such
    assert "MDT-1" in html and "ANN-1" in html
    assert "Saisi par" not in html, "the public does not see who recorded a movement"


def test_only_the_lines_partner_manager_sees_the_form(client, op):
    state_line = op.financing_lines.get(partner__code="etat")
    region_line = op.financing_lines.get(partner__code="region")
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    html = _page(client, op)
    assert f'data-testid="record-{state_line.pk}"' in html
    assert f'data-testid="record-{region_line.pk}"' not in html
    assert "Saisi par" in html
    url = reverse(
        "finance:movement_new",
        kwargs={"slug": op.contract.slug, "pk": op.pk, "line_pk": region_line.pk},
    )
    before = Movement.objects.count()
    response = client.post(
        url,
        {
            "kind": "payment",
            "date": "2022-07-01",
            "amount": "1,00",
            "reference": "X",
            "idempotency_key": "k-region",
        },
    )
    assert response.status_code == 403
    assert Movement.objects.count() == before


def test_anonymous_visitor_is_asked_to_log_in_before_recording(client, op):
    line = op.financing_lines.get(partner__code="etat")
    url = reverse(
        "finance:movement_new", kwargs={"slug": op.contract.slug, "pk": op.pk, "line_pk": line.pk}
    )
    response = client.get(url)
    assert response.status_code == 302 and "/connexion/" in response["Location"]


def _post(client, op, line, **data):  # type: ignore[no-untyped-def]
    url = reverse(
        "finance:movement_new", kwargs={"slug": op.contract.slug, "pk": op.pk, "line_pk": line.pk}
    )
    payload = {
        "kind": "payment",
        "date": "2022-07-01",
        "reference": "MDT-9",
        "idempotency_key": f"web-{data.get('amount')}-{data.get('kind')}",
    }
    payload.update(data)
    return client.post(url, payload, **data.pop("headers", {}))


def test_a_payment_recorded_on_screen_changes_the_lines_figures(client, op):
    line = op.financing_lines.get(partner__code="etat")
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    response = _post(client, op, line, amount="150,00")
    assert response.status_code == 302 and response["Location"].endswith(f"#ligne-{line.pk}")
    m = Movement.objects.latest("pk")
    assert (m.kind, m.amount, m.reference, m.via) == ("payment", Decimal("150.00"), "MDT-9", "web")
    assert _cell(_page(client, op), "x-paid") == _eur(Decimal("350.00"))


def test_a_double_submission_records_one_movement(client, op):
    line = op.financing_lines.get(partner__code="etat")
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    before = Movement.objects.count()
    for _ in range(2):
        _post(client, op, line, amount="10,00", idempotency_key="web-same-key")
    assert Movement.objects.count() == before + 1


def test_an_overpayment_is_refused_on_the_amount_field_and_nothing_is_written(client, op):
    line = op.financing_lines.get(partner__code="etat")
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    before = Movement.objects.count()
    response = _post(client, op, line, amount="900,00")
    assert response.status_code == 422
    form = response.context["form"]
    assert form.errors["amount"], form.errors
    assert "engag" in " ".join(form.errors["amount"])
    assert Movement.objects.count() == before


def test_with_htmx_the_form_comes_back_with_its_error_and_success_redraws_the_section(client, op):
    line = op.financing_lines.get(partner__code="etat")
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    hx = {"HTTP_HX_REQUEST": "true"}
    url = reverse(
        "finance:movement_new", kwargs={"slug": op.contract.slug, "pk": op.pk, "line_pk": line.pk}
    )
    shown = client.get(url, **hx)
    assert shown.status_code == 200 and b'data-testid="movement-form"' in shown.content
    assert b"<html" not in shown.content
    refused = client.post(
        url,
        {
            "kind": "payment",
            "date": "2022-07-01",
            "amount": "900",
            "reference": "R",
            "idempotency_key": "hx-1",
        },
        **hx,
    )
    assert refused.status_code == 200 and b"fr-error-text" in refused.content
    done = client.post(
        url,
        {
            "kind": "commitment",
            "date": "2022-07-01",
            "amount": "200",
            "reference": "EJ-2",
            "idempotency_key": "hx-2",
        },
        **hx,
    )
    assert done.status_code == 200
    assert done["HX-Retarget"] == "#execution" and done["HX-Reswap"] == "outerHTML"
    assert _cell(done.content.decode(), "x-committed") == _eur(Decimal("1500.00"))


def test_a_payment_cancellation_chooses_among_the_lines_uncancelled_payments(client, op):
    line = op.financing_lines.get(partner__code="etat")
    client.force_login(_user(Role.PARTNER_MANAGER, "etat"))
    url = reverse(
        "finance:movement_new", kwargs={"slug": op.contract.slug, "pk": op.pk, "line_pk": line.pk}
    )
    form = client.get(url).context["form"]
    choices = [label for value, label in form.fields["cancels"].choices if value]
    assert len(choices) == 1 and "MDT-2" in choices[0]  # MDT-1 is already cancelled
    mdt2 = Movement.objects.get(reference="MDT-2")
    response = _post(
        client,
        op,
        line,
        kind="payment_cancellation",
        amount="200,00",
        cancels=str(mdt2.pk),
        reference="ANN-2",
    )
    assert response.status_code == 302
    assert Movement.objects.get(reference="ANN-2").cancels_id == mdt2.pk


def test_the_execution_section_reads_a_fixed_number_of_queries(
    client, op, django_assert_max_num_queries
):
    for i in range(5):
        F.record(
            op.financing_lines.get(partner__code="region"), "payment", D(2022, 8, 1 + i), "1.00"
        )
    with django_assert_max_num_queries(40):
        _page(client, op)
