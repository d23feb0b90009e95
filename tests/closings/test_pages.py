"""The closings pages: list and creation form (administrators and instructors), a closing's page
with « situation arrêtée » beside « situation connue aujourd'hui », the reconciliation, the
commentary, the downloads (same PDF as the command), the comité de suivi pack."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.urls import reverse

from cper.audit.services import Actor
from cper.closings import figures as F
from cper.closings import reports
from cper.closings.models import Closing, ReportComment
from cper.closings.services import closing_create
from cper.money import format_eur
from cper.operations.models import Committee, Decision
from tests.closings.test_reports import _norm, pdf_text
from tests.finance import factories as FF
from tests.operations.factories import make_user

D = dt.date
AT = D(2025, 12, 31)


@pytest.fixture
def setup(hdf):  # type: ignore[no-untyped-def]
    a = FF.operation(hdf, code="A", programmed_on=D(2025, 3, 15))
    etat = FF.line(a, "etat", "100000.00")
    FF.record(etat, "commitment", D(2025, 6, 1), "40000.00")
    FF.record(etat, "payment", D(2025, 9, 1), "15000.00")
    return hdf, a, etat


def _login(client, role: str, org: str | None = None):  # type: ignore[no-untyped-def]
    user = make_user(role, org)
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_an_instructor_arrete_a_date_from_the_list_page(client, setup) -> None:
    hdf, _, _ = setup
    _login(client, "instructor")
    url = reverse("closings:list", args=[hdf.slug])
    assert "Arrêter la situation" in client.get(url).content.decode()
    response = client.post(url, {"at": "2025-12-31", "label": ""})
    closing = Closing.objects.get(contract=hdf, at=AT)
    assert response.status_code == 302
    assert response["Location"] == reverse("closings:detail", args=[hdf.slug, closing.pk])
    again = client.post(url, {"at": "2025-12-31", "label": ""})
    assert again.status_code == 400 and "déjà arrêtée" in again.content.decode()


@pytest.mark.django_db
def test_observers_read_closings_but_may_not_create_them_and_the_public_may_not_read(
    client, setup
) -> None:
    hdf, _, _ = setup
    closing_create(actor=Actor.system(), contract=hdf, at=AT)
    url = reverse("closings:list", args=[hdf.slug])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    _login(client, "observer")
    page = client.get(url)
    assert page.status_code == 200 and "31/12/2025" in page.content.decode()
    assert "Arrêter la situation</button>" not in page.content.decode()
    assert client.post(url, {"at": "2025-12-31"}).status_code == 403
    _login(client, "public")
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_the_closing_page_shows_frozen_beside_today_and_the_reconciliation_the_movement(
    client, setup, django_assert_max_num_queries
) -> None:
    hdf, _, etat = setup
    closing = closing_create(actor=Actor.system(), contract=hdf, at=AT)
    FF.record(etat, "payment", D(2025, 11, 15), "10000.00", reference="MANDAT-TARDIF")
    _login(client, "observer")
    # today's side of the page is 4 calls of the aggregation service (total, axis, partner,
    # axis × partner): a fixed number of queries, whatever the number of operations
    with django_assert_max_num_queries(12):
        assert client.get(reverse("closings:list", args=[hdf.slug])).status_code == 200
    with django_assert_max_num_queries(45):
        page = client.get(reverse("closings:detail", args=[hdf.slug, closing.pk]))
    text = page.content.decode()
    assert "Situation arrêtée au 31/12/2025" in text
    assert "Situation connue aujourd&#x27;hui" in text or "Situation connue aujourd'hui" in text
    assert format_eur(Decimal("15000.00")) in text and format_eur(Decimal("25000.00")) in text
    with django_assert_max_num_queries(45):
        rec = client.get(reverse("closings:reconciliation", args=[hdf.slug, closing.pk]))
    body = rec.content.decode()
    assert "MANDAT-TARDIF" in body
    assert format_eur(Decimal("10000.00")) in body


@pytest.mark.django_db
def test_commentary_versions_are_kept_and_the_report_shows_the_last(client, setup) -> None:
    hdf, _, _ = setup
    closing = closing_create(actor=Actor.system(), contract=hdf, at=AT)
    _login(client, "instructor")
    url = reverse("closings:detail", args=[hdf.slug, closing.pk])
    assert client.post(url, {"axis": 2, "text": "Première version."}).status_code == 302
    assert client.post(url, {"axis": 2, "text": "Seconde version."}).status_code == 302
    assert list(
        ReportComment.objects.filter(closing=closing).order_by("id").values_list("text", flat=True)
    ) == ["Première version.", "Seconde version."]
    html = reports.annual_report_html(closing)
    assert "Seconde version." in html and "Première version." not in html
    assert client.post(url, {"axis": 2, "text": "  "}).status_code == 400


@pytest.mark.django_db
def test_the_page_gives_the_same_report_as_the_command(client, setup, tmp_path: Path) -> None:
    hdf, _, _ = setup
    closing = closing_create(actor=Actor.system(), contract=hdf, at=AT)
    _login(client, "observer")
    response = client.get(reverse("closings:report", args=[hdf.slug, closing.pk, "pdf"]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    output = tmp_path / "bilan.pdf"
    call_command(
        "report",
        "annual",
        hdf.slug,
        "--closing",
        "2025-12-31",
        "--output",
        str(output),
        stdout=io.StringIO(),
    )
    assert response.content == output.read_bytes()  # WeasyPrint writes no date: same bytes
    html = reports.annual_report_html(closing)
    page_text = _norm(pdf_text(response.content, html))
    cli_text = _norm(pdf_text(output.read_bytes(), html))
    for grouping in ("axis", "partner"):
        for row in F.rows_of(closing.figures, grouping):
            for m in ("programmed", "committed", "paid"):
                amount = _norm(format_eur(row.amount(m)))
                assert amount in page_text and amount in cli_text
    for fmt in ("xlsx", "ods"):
        annex = client.get(reverse("closings:report", args=[hdf.slug, closing.pk, fmt]))
        assert annex.status_code == 200 and annex.content[:2] == b"PK"


@pytest.mark.django_db
def test_the_committee_pack_has_the_agenda_the_plans_and_the_latest_closing(
    client, setup, tmp_path: Path
) -> None:
    hdf, op, _ = setup
    closing_create(actor=Actor.system(), contract=hdf, at=D(2024, 12, 31))
    latest = closing_create(actor=Actor.system(), contract=hdf, at=AT)
    committee = Committee.objects.create(contract=hdf, kind="suivi", date=D(2026, 3, 10))
    Decision.objects.create(committee=committee, operation=op)
    context = reports.committee_pack_context(contract=hdf, committee_pk=committee.pk)
    assert context["closing"] == latest
    html = render_to_string("closings/committee_pack.html", context)
    text = _norm(html)
    assert "Ordre du jour" in text and "A — " in text
    assert _norm(format_eur(Decimal("100000.00"))) in text  # the État line of the plan
    assert "Situation arrêtée au 31/12/2025" in text
    _login(client, "observer")
    page = client.get(reverse("operations:committee", args=[hdf.slug, committee.pk]))
    pack_url = reverse("closings:committee_pack", args=[hdf.slug, committee.pk])
    assert pack_url in page.content.decode()
    pdf = client.get(pack_url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    output = tmp_path / "dossier.pdf"
    call_command(
        "report",
        "committee",
        hdf.slug,
        "--committee",
        str(committee.pk),
        "--output",
        str(output),
        stdout=io.StringIO(),
    )
    assert output.read_bytes().startswith(b"%PDF")
