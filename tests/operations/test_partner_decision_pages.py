"""The faces of the partners' decisions (issue 12): the section « Décisions des financeurs » of
the operation's page, the htmx form that records one, the signed act streamed to allowed users
only, and the partner workspace's list of lines awaiting the partner's decision."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cper.contracts.models import Contract, ProgrammingMode
from cper.finance.models import LineState
from cper.operations import services
from cper.operations.models import OperationStatus, PartnerDecision
from tests.operations.factories import make_line, make_operation

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture
def op(hdf):  # type: ignore[no-untyped-def]
    Contract.objects.filter(pk=hdf.pk).update(programming_mode=ProgrammingMode.PARTNER_DECISION)
    op = make_operation(hdf, status=OperationStatus.PROGRAMMED, published=True)
    make_line(op, "region", "300000.00")
    make_line(op, "dep-59", "100000.00")
    return op


def _detail(op) -> str:  # type: ignore[no-untyped-def]
    return reverse("operations:detail", args=[op.contract.slug, op.pk])


def _new(op, partner_code: str) -> str:  # type: ignore[no-untyped-def]
    line = op.financing_lines.get(partner__code=partner_code)
    return reverse("operations:partner_decision_new", args=[op.contract.slug, op.pk, line.pk])


def test_the_operation_page_shows_each_partner_line_awaiting_its_decision(
    client, op, users, django_assert_max_num_queries
):
    client.force_login(users["nord"])
    # The section adds one query (the decisions of the lines the page has read); PostgreSQL
    # counts 4 more statements than SQLite (the aggregation's savepoint and SET LOCAL).
    with django_assert_max_num_queries(34):
        page = client.get(_detail(op)).content.decode()
    assert "Décisions des financeurs" in page
    assert "la décision de chaque financeur programme sa ligne" in page
    assert page.count("en attente de décision") == 2
    assert "Avis du comité" in page
    # The Nord's manager records on the Nord's line only.
    assert _new(op, "dep-59") in page
    assert _new(op, "region") not in page


def test_recording_a_decision_with_htmx_redraws_the_section_and_programmes_the_line(
    client, op, users, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(users["nord"])
    url = _new(op, "dep-59")
    form = client.get(url, HTTP_HX_REQUEST="true")
    assert form.status_code == 200
    assert 'data-testid="partner-decision-form"' in form.content.decode()
    response = client.post(
        url,
        {
            "kind": "deliberation_conseil",
            "body": "commission permanente du conseil départemental du Nord",
            "date": "2024-06-17",
            "reference": "DCP 2024-06-17 n° 42",
            "outcome": "granted",
            "amount": "100 000,00",
            "document": SimpleUploadedFile("délibération.pdf", PDF),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#decisions-financeurs"
    html = response.content.decode()
    assert "DCP 2024-06-17 n° 42" in html and "100\u202f000,00\xa0€" in html
    assert "17/06/2024" in html and html.count("en attente de décision") == 1
    line = op.financing_lines.get(partner__code="dep-59")
    state = LineState.objects.get(pk=line.pk)
    assert (state.programmed, state.programmed_on) == (10_000_000, dt.date(2024, 6, 17))


def test_a_refused_decision_is_shown_on_its_fields_and_nothing_is_written(client, op, users):
    client.force_login(users["nord"])
    response = client.post(
        _new(op, "dep-59"),
        {"kind": "autre", "date": "2024-06-17", "outcome": "refused", "amount": "5"},
    )
    assert response.status_code == 422
    assert "un refus ou un retrait porte un montant de 0" in response.content.decode()
    assert not PartnerDecision.objects.exists()


def test_another_partners_manager_cannot_open_the_form(client, op, users):
    client.force_login(users["nord"])
    assert client.get(_new(op, "region")).status_code == 403


def test_the_signed_act_is_streamed_to_staff_and_never_to_the_public(
    client, op, users, actors, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    line = op.financing_lines.get(partner__code="region")
    decision = services.partner_decision_record(
        actor=actors["admin"],
        line=line,
        kind="deliberation_cp",
        date=dt.date(2024, 5, 3),
        amount="300000",
        document=SimpleUploadedFile("cp.pdf", PDF),
    )
    url = reverse(
        "operations:partner_decision_document", args=[op.contract.slug, op.pk, decision.pk]
    )
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(users["public"])
    assert client.get(url).status_code == 403
    assert "Télécharger" not in client.get(_detail(op)).content.decode()
    client.force_login(users["observer"])
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].startswith("attachment")
    # The file is not under a public URL: MEDIA_URL serves nothing.
    assert client.get(f"{settings.MEDIA_URL}{decision.document.name}").status_code == 404
