"""Fixtures of the io tests: users per role, and a builder of CSV/XLSX/ODS files in memory."""

from __future__ import annotations

from typing import Any

import pytest

from cper.accounts.models import Role
from cper.audit.services import Actor
from cper.io import writers
from cper.operations.rules import luhn_check_digit
from tests.operations.factories import make_user

__all__ = ["SIRET_A", "SIRET_B", "SIRET_C", "csv_file", "sheet_file", "test_siret"]


def test_siret(n: int) -> str:
    """A test SIRET whose SIREN and whole number both carry a valid Luhn key (as the official
    SCDL validator, through python-stdnum, checks), clearly not a real one (SIREN 9xxxxxxxx)."""
    siren = f"9{n:07d}"
    siren += luhn_check_digit(siren)
    base = f"{siren}0001"
    return base + luhn_check_digit(base)


test_siret.__test__ = False  # type: ignore[attr-defined]  # not a pytest test

SIRET_A = test_siret(1)
SIRET_B = test_siret(2)
SIRET_C = test_siret(3)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_actor(hdf):  # type: ignore[no-untyped-def]
    user = make_user(Role.ADMINISTRATOR, username="io-admin", is_staff=True)
    return Actor(user=user, via="import")


def csv_file(rows: list[list[Any]], *, sep: str = ";", encoding: str = "utf-8") -> bytes:
    lines = [sep.join("" if v is None else str(v) for v in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def sheet_file(rows: list[list[Any]], fmt: str = "xlsx") -> bytes:
    header, *body = rows
    sheet = writers.Sheet(
        name="Opérations",
        columns=[writers.Col(str(h)) for h in header],
        rows=body,
    )
    return writers.render([sheet], fmt)
