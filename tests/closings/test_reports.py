"""The annual execution report and the comité de suivi pack, built on a closing.

Done when: the PDF of `cper report annual` carries the closing's totals by axis and by partner,
formatted in French, equal to `cper closing show` to the cent — and the page gives the same PDF.
The PDF's text is read with `pdftotext` (poppler-utils) when the machine has it; otherwise from
the laid-out document WeasyPrint wrote the PDF from (every text box of every page).
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from cper.audit.services import Actor
from cper.closings import figures as F
from cper.closings import reports
from cper.closings.services import closing_create
from cper.money import format_eur
from tests.finance import factories as FF

D = dt.date
AT = D(2025, 12, 31)
SYSTEM = Actor.system()


def pdf_text(pdf: bytes, html: str | None = None) -> str:
    """The text of a PDF: pdftotext when installed, else WeasyPrint's layout of `html`."""
    tool = shutil.which("pdftotext")  # reading order, not -layout: a wrapped table cell stays whole
    if tool:
        done = subprocess.run([tool, "-", "-"], input=pdf, capture_output=True, check=True)
        return done.stdout.decode()
    assert html is not None, "pdftotext absent : le HTML du document est nécessaire"
    from weasyprint import HTML

    parts: list[str] = []

    def walk(box) -> None:  # type: ignore[no-untyped-def]
        text = getattr(box, "text", None)
        if isinstance(text, str):
            parts.append(text)
        for child in getattr(box, "children", []) or []:
            walk(child)

    for page in HTML(string=html).render().pages:
        walk(page._page_box)
    return "\n".join(parts)


def _norm(text: str) -> str:
    """Spaces as pdftotext may give them (narrow no-break spaces become plain ones)."""
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


@pytest.fixture
def closed(hdf):  # type: ignore[no-untyped-def]
    a = FF.operation(hdf, code="A", programmed_on=D(2025, 3, 15))
    b = FF.operation(
        hdf, code="B", objective="1.1", communes=("80021",), programmed_on=D(2024, 5, 2)
    )
    etat = FF.line(a, "etat", "1234567.89")
    region = FF.line(a, "region", "50000.00")
    b_etat = FF.line(b, "etat", "300000.00")
    FF.record(etat, "commitment", D(2025, 6, 1), "400000.10")
    FF.record(etat, "payment", D(2025, 9, 1), "150000.05")
    FF.record(region, "commitment", D(2025, 7, 1), "50000.00")
    FF.record(b_etat, "commitment", D(2024, 7, 1), "100000.00")
    return closing_create(actor=SYSTEM, contract=hdf, at=AT)


def _show_amounts(hdf) -> list[str]:  # type: ignore[no-untyped-def]
    """The French-formatted amounts `cper closing show` prints for each axis and partner row."""
    out = io.StringIO()
    call_command("closing", "show", hdf.slug, "--at", AT.isoformat(), stdout=out)
    text = out.getvalue()
    amounts = []
    for line in text.splitlines():
        for cell in line.split("\t")[1:]:
            amounts.append(cell.split(" ", 1)[1])  # "programmé 1 234 567,89 €" → the amount
    return amounts


@pytest.mark.django_db
def test_show_prints_the_totals_by_axis_and_partner_in_french(closed, hdf) -> None:
    out = io.StringIO()
    call_command("closing", "show", hdf.slug, "--at", "2025-12-31", stdout=out)
    text = out.getvalue()
    assert "Situation arrêtée au 31/12/2025" in text
    # État: 1 234 567,89 + 300 000,00 programmed; committed 400 000,10 + 100 000,00
    assert "programmé 1\u202f534\u202f567,89\u00a0€" in text
    assert "engagé 500\u202f000,10\u00a0€" in text
    assert "payé 150\u202f000,05\u00a0€" in text


@pytest.mark.django_db
def test_the_annual_report_pdf_has_the_closing_totals_by_axis_and_partner(
    closed, hdf, tmp_path: Path
) -> None:
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
    pdf = output.read_bytes()
    assert pdf.startswith(b"%PDF")
    text = _norm(pdf_text(pdf, reports.annual_report_html(closed)))
    assert "Bilan d'exécution au 31/12/2025" in text
    shown = _show_amounts(hdf)
    assert "1 534 567,89 €" in {_norm(a) for a in shown}  # hand-computed État programmed
    for amount in shown:
        if amount != "—":
            assert _norm(amount) in text
    for grouping in ("axis", "partner"):
        for row in F.rows_of(closed.figures, grouping):
            assert _norm(row.label).split("-")[0] in text  # labels may wrap at hyphens
            for m in ("programmed", "committed", "paid"):
                assert _norm(format_eur(row.amount(m))) in text


@pytest.mark.django_db
def test_a_later_movement_does_not_change_the_report(closed, hdf) -> None:
    before = reports.annual_report_html(closed)
    line = closed.contract.closings.first()  # noqa: F841 - the same closing, read again
    etat = FF.line(FF.operation(hdf, code="C", programmed_on=D(2025, 4, 1)), "etat", "999.00")
    FF.record(etat, "commitment", D(2025, 5, 1), "999.00")
    after = reports.annual_report_html(closed.contract.closings.get(pk=closed.pk))
    assert "999,00" not in after
    assert _norm(before).count("1 534 567,89 €") == _norm(after).count("1 534 567,89 €")


@pytest.mark.django_db
def test_the_annexes_are_spreadsheets_of_the_same_figures(closed) -> None:
    xlsx = reports.annual_report_annex(closed, "xlsx")
    ods = reports.annual_report_annex(closed, "ods")
    assert xlsx[:2] == b"PK" and ods[:2] == b"PK"
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    values = [c.value for row in book["axe"].iter_rows() for c in row]
    assert Decimal(str(F.total_of(closed.figures, "axis").programmed)) in {  # type: ignore[union-attr]
        Decimal(str(v)) for v in values if isinstance(v, int | float | Decimal)
    }


@pytest.mark.django_db
def test_the_report_has_the_indicators_and_forecasts_sections_of_their_apps(closed) -> None:
    sections = reports.annual_report_context(closed)["extras"]
    assert [s.key for s in sections] == ["indicators", "forecasts"]
    assert all(s.available for s in sections)
    html = reports.annual_report_html(closed)
    assert "Section non disponible" not in html
    assert sections[0].title in html.replace("&#x27;", "'")


def test_a_section_an_app_does_not_provide_says_non_disponible(monkeypatch) -> None:
    monkeypatch.setitem(reports._SECTION_MODULES, "forecasts", object())  # type: ignore[arg-type]
    section = reports.extra_section("forecasts", contract=None, at=AT)  # type: ignore[arg-type]
    assert not section.available and section.tables == []
