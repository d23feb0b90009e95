"""Reading French spreadsheets: encodings, separators, amounts, dates, headers, mappings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cper.io import vocabulary as voc
from cper.io.readers import (
    Mapping_,
    ReadError,
    decode_text,
    detect_delimiter,
    locate_table,
    normalize,
    parse_date,
    parse_money,
    read_file,
)
from cper.money import MoneyError

ROWS = [
    ["Intitulé de l'opération", "Maître d'ouvrage", "Coût total HT", "Début prévu"],
    ["Médiathèque « Éléonore »", "Commune d'Œuilly", "1 234 567,89 €", "31/12/2023"],
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("sep", [";", ","])
def test_csv_encodings_and_separators_are_detected(encoding, sep):
    def quote(v: str) -> str:
        return f'"{v}"' if sep in v else v

    text = "\r\n".join(sep.join(quote(v) for v in row) for row in ROWS) + "\r\n"
    data = text.encode(encoding)
    sheet = read_file(data, "fichier.csv")[0]
    assert sheet.delimiter == sep
    assert sheet.rows[1][0] == "Médiathèque « Éléonore »"
    assert sheet.rows[1][1] == "Commune d'Œuilly"
    assert sheet.encoding == ("cp1252" if encoding == "cp1252" else encoding)


def test_decode_text_falls_back_to_windows_1252():
    assert decode_text("Coût € œ".encode("cp1252")) == ("Coût € œ", "cp1252")


def test_detect_delimiter_ignores_commas_inside_amounts():
    assert detect_delimiter("a;b;c\n1,5;2,5;3\n") == ";"
    assert detect_delimiter("a,b,c\n1.5,2.5,3\n") == ","


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1 234 567,89 €", Decimal("1234567.89")),
        ("1234567.89", Decimal("1234567.89")),
        ("1\u202f234,5", Decimal("1234.50")),
        (1234567.89, Decimal("1234567.89")),
        (150000, Decimal("150000.00")),
    ],
)
def test_amounts(raw, expected):
    assert parse_money(raw) == expected


def test_text_in_an_amount_is_refused_in_french():
    with pytest.raises(MoneyError, match="« beaucoup » n'est pas un montant"):
        parse_money("beaucoup")


@pytest.mark.parametrize(
    "raw",
    [
        "31/12/2023",
        "2023-12-31",
        45291,
        45291.0,
        "45291",
        dt.date(2023, 12, 31),
        dt.datetime(2023, 12, 31, 0, 0),
    ],
)
def test_dates(raw):
    assert parse_date(raw) == dt.date(2023, 12, 31)


@pytest.mark.parametrize("raw", ["31/02/2023", "demain", "2023/31/12"])
def test_bad_dates_are_refused(raw):
    with pytest.raises(ValueError, match="date"):
        parse_date(raw)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("INTITULE DE L'OPERATION", "title"),
        ("Maitre d’ouvrage", "owner_name"),
        ("N° SIRET", "owner_siret"),
        ("n°siret", "owner_siret"),
        ("Code Insee", "communes"),
        ("Coût total HT", "cost_ht"),
    ],
)
def test_headers_match_without_case_or_accents(header, field):
    assert voc.OPERATIONS.match(header) == field


def test_movement_vocabulary():
    assert voc.MOVEMENTS.match("Montant engagé") == "committed"
    assert voc.MOVEMENTS.match("N° EJ") == "movement_ref"
    assert voc.MOVEMENTS.match("Montant mandaté") == "paid"


def test_header_block_above_the_header_row_is_skipped():
    rows = [["Contrat", "X"], ["Généré le", "01/01/2025"], [], *ROWS]
    data = ("\n".join(";".join(r) for r in rows) + "\n").encode()
    table = locate_table(read_file(data, "x.csv"), voc.OPERATIONS)
    assert table.header_row == 4
    assert [n for n, _ in table.rows] == [5]


def test_toml_mapping_names_unknown_headers_and_financers():
    mapping = Mapping_.load(
        '[options]\nheader_row = 1\n[columns]\n"Nom du chantier" = "title"\n'
        '"Remarques" = "ignore"\n[financers]\n"Apport CD59" = "dep-59"\n'
    )
    rows = [["Nom du chantier", "Apport CD59", "Remarques"], ["Gare", "10", "x"]]
    data = ("\n".join(";".join(r) for r in rows)).encode()

    table = locate_table(read_file(data, "m.csv"), voc.OPERATIONS, mapping=mapping)
    assert table.columns[0].field == "title"
    assert table.columns[1].financer == "dep-59"
    assert table.columns[2].field is None and table.columns[2].financer is None


def test_no_recognisable_header_is_a_read_error():
    with pytest.raises(ReadError, match="aucune ligne d'en-têtes"):
        locate_table(read_file(b"a;b\n1;2\n", "x.csv"), voc.OPERATIONS)


def test_normalize():
    assert normalize("  Maître d'Ouvrage (MOA) ") == "maitre d ouvrage moa"
