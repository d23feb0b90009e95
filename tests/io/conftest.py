"""Fixtures of the io tests: users per role, and a builder of CSV/XLSX/ODS files in memory."""

from __future__ import annotations

from typing import Any

import pytest

from cper.accounts.models import Role
from cper.audit.services import Actor
from cper.io import writers
from tests.operations.factories import make_user, valid_siret

__all__ = ["SIRET_A", "SIRET_B", "SIRET_C", "csv_file", "sheet_file"]

# Luhn-valid test SIRETs (the factories' generator: 9 + counter + key), clearly not real ones.
SIRET_A = valid_siret(900001)
SIRET_B = valid_siret(900002)
SIRET_C = valid_siret(900003)


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
