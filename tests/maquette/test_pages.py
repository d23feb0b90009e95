"""The maquette pages: table, drill-down, selector, CSV, amendments, diff; bounded queries."""

import csv
import io
import json
import re
from decimal import Decimal

from django.core.management import call_command
from django.urls import reverse

from cper.maquette.selectors import maquette_table


def _url(hdf, name="index", *args):
    return reverse(f"maquette:{name}", args=[hdf.slug, *args])


def _amounts(html, testid):
    return [
        Decimal(m) for m in re.findall(rf'data-amount="([-\d.]+)" data-testid="{testid}"', html)
    ]


def test_the_table_page_at_a_date_and_its_chart(client, hdf, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        response = client.get(_url(hdf), {"date": "2023-12-31"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "maquette en vigueur le 31/12/2023" in html and "contrat initial, sans avenant" in html
    assert 'data-testid="chart-partners-axes"' in html and "<rect" in html
    assert "Axe 5" in html
    assert _amounts(html, "axis-total")[4] == 0  # axis 5 column, empty before the amendment
    assert 'lang="fr"' in html


def test_page_cli_and_csv_agree_on_totals_by_partner_and_axis(client, hdf, capsys):
    html = client.get(_url(hdf), {"version": "2"}).content.decode()
    table = maquette_table(contract=hdf, version=2)
    assert _amounts(html, "partner-total") == [r.total for r in table.partner_rows]
    assert _amounts(html, "axis-total") == table.axis_totals
    response = client.get(_url(hdf), {"version": "2", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["code"]: Decimal(r["total"]) for r in rows if r["code"]} == table.partner_totals
    total_row = next(r for r in rows if r["partenaire"] == "Total")
    assert [Decimal(total_row[f"axe {a.number}"]) for a in table.axes] == table.axis_totals
    call_command("maquette", hdf.slug, "--version", "2", "--by", "partner", "--format", "json")
    cli = json.loads(capsys.readouterr().out)
    assert {r["partner"]: Decimal(r["amount"]) for r in cli["rows"]} == table.partner_totals
    assert Decimal(cli["total"]) == table.total == sum(_amounts(html, "partner-total"))


def test_drill_down_to_objectives_and_years(client, hdf, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        response = client.get(_url(hdf), {"version": "1", "axe": "5"})
    html = response.content.decode()
    assert 'data-testid="detail-objectives"' in html and 'data-testid="detail-years"' in html
    assert "Axe 5 — Favoriser la mobilité" in html
    assert '<th scope="col" class="cper-num">2027</th>' in html


def test_a_bad_date_is_explained_and_the_page_still_shows(client, hdf):
    response = client.get(_url(hdf), {"date": "31/12/2023"})
    assert response.status_code == 200
    assert "Date invalide" in response.content.decode()


def test_amendment_list_and_detail(client, hdf, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        html = client.get(_url(hdf, "amendments")).content.decode()
    assert "Volet mobilités 2023-2027" in html and "23/11/2023" in html and "26/04/2024" in html
    with django_assert_max_num_queries(16):
        html = client.get(_url(hdf, "amendment", 1)).content.decode()
    assert "Avenant n°1" in html and "ferroviaire" in html and "+693,00" in html
    assert client.get(_url(hdf, "amendment", 9)).status_code == 404


def test_diff_page_names_the_amendments_responsible(client, hdf, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        response = client.get(_url(hdf, "diff"), {"de": "2023-12-31", "a": "2024-12-31"})
    html = response.content.decode()
    listed = re.search(r'data-testid="diff-amendments">(.*?)</ul>', html, re.S).group(1)
    assert "Avenant n°1" in listed and "Avenant n°2" not in listed
    back = client.get(_url(hdf, "diff"), {"de": "2", "a": "0"}).content.decode()
    assert "retour en arrière" in back
    response = client.get(_url(hdf, "diff"), {"de": "1", "a": "2", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 8 and sum(Decimal(r["écart"]) for r in rows) == 0
    assert (
        "est ni un numéro de version" in client.get(_url(hdf, "diff"), {"de": "x"}).content.decode()
    )


def test_the_main_navigation_links_to_the_maquette(client, hdf):
    html = client.get(reverse("web:contract", args=[hdf.slug])).content.decode()
    assert _url(hdf) in html
