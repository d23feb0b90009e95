from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cper.money import MoneyError, format_eur, format_percent, parse_amount, to_money


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 234 567,89 €", Decimal("1234567.89")),
        ("1234567.89", Decimal("1234567.89")),
        ("1.234.567,89", Decimal("1234567.89")),
        ("1,234,567.89", Decimal("1234567.89")),
        ("-12,5", Decimal("-12.5")),
        ("994\u202f260\u202f000,00\u00a0€", Decimal("994260000.00")),
        ("(100,00)", Decimal("-100.00")),
    ],
)
def test_parse_amount_reads_french_and_plain_notations(text, expected):
    assert parse_amount(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "12,3,4", "1 2x", "€"])
def test_parse_amount_refuses_what_is_not_an_amount(text):
    with pytest.raises(MoneyError):
        parse_amount(text)


def test_to_money_rounds_to_the_cent_and_refuses_booleans():
    assert to_money("10,005") == Decimal("10.01")
    assert to_money(0.1) == Decimal("0.10")
    with pytest.raises(MoneyError):
        to_money(True)


def test_french_formats():
    assert format_eur(Decimal("1234567.891")) == "1\u202f234\u202f567,89\u00a0€"
    assert format_eur(Decimal("-5")) == "-5,00\u00a0€"
    assert format_percent(Decimal("45.25")) == "45,3\u00a0%"


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_formatted_amount_parses_back_to_the_same_cents(value):
    assert parse_amount(format_eur(value)) == value
