"""Meeting a partner's own register on the pages and the command line: the import page's
templates, columns and takeover date, the simulation's header matches and preview, the
downloadable templates read back by the importer, and the matching rules themselves."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from cper.accounts.models import Role
from cper.io import vocabulary as voc
from cper.io.headers import HeaderMatcher
from cper.io.imports import import_movements, import_operations, template
from cper.io.models import ImportLog, ImportState
from cper.io.readers import normalize
from cper.money import format_eur
from cper.operations.models import Committee, Operation, OperationStatus
from tests.io.conftest import SIRET_A, SIRET_B, csv_file
from tests.io.test_import_registers import BAD, GOOD, register_file
from tests.io.test_import_rejections import MOVEMENT_HEADER, programmed  # noqa: F401
from tests.operations.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, hdf, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path
    client.force_login(make_user(Role.ADMINISTRATOR, username="io-layout-web"))
    return client


def url(name: str, slug: str, **kw: object) -> str:
    return reverse(f"io:{name}", kwargs={"slug": slug, **kw})


# --- the import page --------------------------------------------------------------------------


def test_import_page_offers_templates_columns_and_the_takeover_date(staff_client, hdf):
    page = staff_client.get(url("index", hdf.slug)).content.decode()
    assert url("import_template", hdf.slug, kind="operations") in page
    assert url("import_template", hdf.slug, kind="movements") in page
    assert 'name="programmed_on"' in page and "Reprise de l'existant" in page
    # The columns it understands, with their other names.
    assert "Colonnes comprises" in page and "Date du comité de programmation" in page
    assert "N° EJ ou de mandat" in page and "Nom du maître d&#x27;ouvrage" in page


def test_register_simulated_on_the_page_shows_matches_preview_and_rejections(staff_client, hdf):
    response = staff_client.post(
        url("import_upload", hdf.slug),
        {
            "kind": "operations",
            "partner": "region",
            "partial": "1",
            "programmed_on": "2022-12-31",
            "file": SimpleUploadedFile("registre.xlsx", register_file()),
        },
    )
    assert response.status_code == 302
    preview = ImportLog.objects.get()
    assert preview.state == ImportState.DRY_RUN
    assert (preview.created, preview.rejected) == (len(GOOD), len(BAD))
    page = staff_client.get(response["Location"]).content.decode()
    assert "En-têtes reconnus" in page and "N° SIRET du MO" in page and "rapprochée" in page
    assert "&quot;Obj. CPER&quot; = &quot;objective&quot;" in page  # the mapping to correct
    assert "Aperçu des premières lignes" in page and "Pôle gare de Lille" in page
    assert "décisions antérieures au 31/12/2022" in page
    assert "Lignes rejetées" in page and "objectif inconnu" in page
    assert not Operation.objects.filter(contract=hdf).exists()

    response = staff_client.post(url("import_confirm", hdf.slug, pk=preview.pk))
    assert response.status_code == 302
    applied = ImportLog.objects.exclude(pk=preview.pk).get()
    assert applied.state == ImportState.PARTIAL and applied.created == len(GOOD)
    assert Operation.objects.filter(contract=hdf).count() == len(GOOD)
    assert Committee.objects.get(contract=hdf).title.startswith("Reprise de l'existant")


def test_a_takeover_date_to_come_is_refused_on_the_page(staff_client, hdf):
    response = staff_client.post(
        url("import_upload", hdf.slug),
        {
            "kind": "operations",
            "programmed_on": "2999-01-01",
            "file": SimpleUploadedFile("registre.xlsx", register_file()),
        },
        follow=True,
    )
    assert "elle est à venir" in response.content.decode()
    assert not ImportLog.objects.exists()


# --- templates --------------------------------------------------------------------------------


def _validations(sheet):  # type: ignore[no-untyped-def]
    """{column letter: list source} of a sheet's drop-down lists."""
    out = {}
    for rule in sheet.data_validations.dataValidation:
        for ref in str(rule.sqref).split():
            out[ref.split(":")[0].rstrip("0123456789")] = rule.formula1
    return out


def test_operations_template_has_headers_help_and_drop_down_lists(staff_client, hdf):
    response = staff_client.get(url("import_template", hdf.slug, kind="operations"))
    assert response.status_code == 200
    assert "modele-import-operations.xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    sheet, lists = book["Opérations"], book["Listes"]
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["Référence du partenaire", "Intitulé de l'opération", "Maître d'ouvrage"]
    assert all(sheet.cell(row=1, column=i + 1).comment for i in range(len(headers)))
    rules = _validations(sheet)
    letter = {h: chr(ord("A") + i) for i, h in enumerate(headers)}
    assert set(rules) == {letter["Objectif"], letter["Statut"], letter["Financeur"]}
    listed = {lists.cell(row=1, column=n).value: n for n in range(1, 4)}
    column = {
        name: [c.value for c in lists[chr(ord("A") + n - 1)][1:] if c.value is not None]
        for name, n in listed.items()
    }
    assert "Région" in column["Partenaires"] and "État" in column["Partenaires"]
    assert any(v.startswith("2.2 — ") for v in column["Objectifs"])
    assert column["Statuts"] == [label for _, label in OperationStatus.choices]
    assert book["Aide"].max_row == len(headers) + 1


def test_a_filled_in_template_imports_without_a_mapping(hdf, admin_actor):
    data = template.build(hdf, "operations")
    book = load_workbook(io.BytesIO(data))
    sheet = book["Opérations"]
    headers = [c.value for c in sheet[1]]
    objective = next(v.value for v in book["Listes"]["B"][1:] if str(v.value).startswith("2.2"))
    values = {
        "Référence du partenaire": "T-1",
        "Intitulé de l'opération": "Gare de Lille",
        "Maître d'ouvrage": "Ville de Lille",
        "N° SIRET": SIRET_A,
        "Code INSEE": "59350",
        "Objectif": objective,
        "Statut": "programmée",
        "Date du comité de programmation": "15/06/2023",
        "Coût total HT": "1 000 000,00",
        "Financeur": "Région",
        "Montant": "250 000,00 €",
    }
    sheet.append([values.get(h) for h in headers])
    sheet.append([values.get(h) if h != "Financeur" else "État" for h in headers])
    buffer = io.BytesIO()
    book.save(buffer)
    report = import_operations(
        actor=admin_actor,
        contract=hdf,
        source=buffer.getvalue(),
        file_name="modele.xlsx",
        partner=hdf.partners.get(code="region"),
        dry_run=False,
    )
    assert report.ok and report.applied, report.rejections
    op = Operation.objects.get(contract=hdf)
    assert op.status == OperationStatus.PROGRAMMED and op.financing_lines.count() == 2
    # every header of the template is understood; the State's line (the template has no
    # programme column) is only warned of its missing LOLF programme (issue 12)
    assert [w for w in report.warnings if "programme LOLF" not in w] == []


def test_movements_template_reads_back(hdf, admin_actor):
    book = load_workbook(io.BytesIO(template.build(hdf, "movements")))
    sheet = book["Mouvements"]
    assert "Nature du mouvement" in [c.value for c in sheet[1]]
    assert [c.value for c in book["Listes"]["B"]][:3] == [
        "Natures de mouvement",
        "engagement",
        "désengagement",
    ]
    buffer = io.BytesIO()
    book.save(buffer)
    report = import_movements(
        actor=admin_actor, contract=hdf, source=buffer.getvalue(), file_name="m.xlsx"
    )
    assert report.ok and report.rows_total == 0 and not report.warnings


def test_template_command_writes_the_file(hdf, tmp_path: Path):
    target = tmp_path / "modele.xlsx"
    out = io.StringIO()
    call_command(
        "import", "template", "operations", "--contract", hdf.slug, "--output", str(target),
        stdout=out,
    )  # fmt: skip
    assert "modèle d'import écrit" in out.getvalue()
    assert load_workbook(target)["Opérations"]["A1"].value == "Référence du partenaire"


def test_anonymous_visitor_gets_no_template(client, hdf):
    response = client.get(url("import_template", hdf.slug, kind="operations"))
    assert response.status_code in {302, 403}


# --- the matching rules -----------------------------------------------------------------------


def _fields(*headers: str) -> dict[str, str | None]:
    matcher = voc.OPERATIONS.matcher
    found = {m.index: m.field for m in matcher.assign(enumerate(normalize(h) for h in headers))}
    return {h: found.get(i) for i, h in enumerate(headers)}


def test_headers_with_extra_words_and_abbreviations_are_matched():
    assert _fields(
        "Code INSEE commune",
        "N° SIRET du MO",
        "Obj. CPER",
        "Intitulé du projet (libellé court)",
        "Nom de la MOA",
        "Montant total HT",
        "Date comité",
    ) == {
        "Code INSEE commune": "communes",
        "N° SIRET du MO": "owner_siret",
        "Obj. CPER": "objective",
        "Intitulé du projet (libellé court)": "title",
        "Nom de la MOA": "owner_name",
        "Montant total HT": "cost_ht",
        "Date comité": "committee_date",
    }


def test_no_two_columns_feed_one_field_and_weak_matches_are_left():
    found = _fields("Intitulé du projet", "Libellé court", "Observations diverses", "Pièce")
    # the better match takes the field; the other is left unknown (and said so)
    assert found == {
        "Intitulé du projet": "title",
        "Libellé court": None,
        "Observations diverses": None,
        "Pièce": None,
    }


def test_matcher_scores_one_for_the_same_words_in_another_form():
    matcher = HeaderMatcher({"owner_siret": ["n siret du maitre d ouvrage"]})
    [match] = matcher.assign([(0, normalize("Nº SIRET MOA"))])
    assert (match.field, match.score) == ("owner_siret", 1.0)


@pytest.mark.parametrize(
    ("written", "status"),
    [
        ("Programmé", "programmed"),
        ("programmée", "programmed"),
        ("PROGRAMMEES", "programmed"),
        ("En cours", "in_progress"),
        ("en cours de réalisation", "in_progress"),
        ("Soldé", "closed"),
        ("soldée", "closed"),
        ("Terminé", "completed"),
        ("Achevée", "completed"),
        ("Abandonné", "abandoned"),
        ("Ajourné", "adjourned"),
        ("Rejeté", "rejected"),
        ("Déposé", "submitted"),
        ("En instruction", "under_review"),
        ("in_progress", "in_progress"),
    ],
)
def test_everyday_statuses(written, status):
    words = voc.status_words(OperationStatus.choices)
    assert words[voc.status_key(written)] == status


def test_without_a_reference_column_the_partner_number_becomes_its_reference(hdf, admin_actor):
    rows = [
        ["N° d'opération", "Intitulé", "Maître d'ouvrage", "SIRET", "Code INSEE", "Objectif"],
        ["DOS-77", "Gare d'Amiens", "Ville d'Amiens", SIRET_B, "80021", "2.3"],
    ]
    data = "\r\n".join(";".join(r) for r in rows).encode()
    region = hdf.partners.get(code="region")
    report = import_operations(
        actor=admin_actor, contract=hdf, source=data, partner=region, dry_run=False
    )
    assert report.ok and report.created == 1
    op = Operation.objects.get(contract=hdf)
    assert op.code.startswith("OP-")
    assert op.external_references.get(partner=region).reference == "DOS-77"
    again = import_operations(
        actor=admin_actor, contract=hdf, source=data, partner=region, dry_run=False
    )
    assert (again.created, again.unchanged) == (0, 1)


def test_a_movements_dry_run_previews_its_first_rows(hdf, admin_actor, programmed):  # noqa: F811
    rows = [MOVEMENT_HEADER]
    rows += [
        ["OK-1", "État", "engagement", "01/06/2023", "1 000,00 €", f"{2100000000 + i}"]
        for i in range(12)
    ]
    report = import_movements(
        actor=admin_actor, contract=hdf, source=csv_file(rows), file_name="m.csv", dry_run=True
    )
    assert report.ok and report.created == 12
    preview = report.as_dict()["preview"]
    assert [p["row"] for p in preview] == list(range(2, 12))  # the first ten
    assert preview[0]["values"] == {
        "N° d'opération": "OK-1",
        "Financeur": "État",
        "Mouvements": f"engagement du 01/06/2023 : {format_eur(Decimal('1000'))} (2100000000)",
    }


def test_a_mapping_corrects_an_approximate_match(hdf, admin_actor):
    header = ["N° dossier", "Intitulé du projet", "Libellé court", "MOA", "SIRET", "Code INSEE"]
    rows = [[*header, "Objectif"], ["D-1", "Long", "Court", "Amiens", SIRET_B, "80021", "2.3"]]
    data = "\r\n".join(";".join(r) for r in rows).encode()
    region = hdf.partners.get(code="region")
    guessed = import_operations(actor=admin_actor, contract=hdf, source=data, partner=region)
    assert {m["header"]: m["field"] for m in guessed.matches}["Intitulé du projet"] == "title"
    assert any("Libellé court" in w for w in guessed.warnings)  # left out, and said so
    mapping = '[columns]\n"Libellé court" = "title"\n"Intitulé du projet" = "description"\n'
    report = import_operations(
        actor=admin_actor, contract=hdf, source=data, partner=region, mapping=mapping,
        dry_run=False,
    )  # fmt: skip
    assert report.ok, [str(r) for r in report.rejections]
    op = Operation.objects.get(contract=hdf)
    assert (op.title, op.description) == ("Court", "Long")
