from __future__ import annotations

import pytest

from cper.accounts.models import Role
from cper.audit.services import Actor
from tests.operations.factories import make_user


@pytest.fixture(autouse=True)
def _fast_passwords(settings):  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def users(hdf):  # type: ignore[no-untyped-def]
    """One user per role, on the Hauts-de-France organisations."""
    return {
        "admin": make_user(Role.ADMINISTRATOR, username="t-admin", is_staff=True),
        "state": make_user(Role.PARTNER_MANAGER, "etat", username="t-etat", is_staff=True),
        "nord": make_user(Role.PARTNER_MANAGER, "departement-59", username="t-nord", is_staff=True),
        "instructor": make_user(Role.INSTRUCTOR, "etat", username="t-instr", is_staff=True),
        "observer": make_user(Role.OBSERVER, username="t-obs", is_staff=True),
        "public": make_user(Role.PUBLIC, username="t-public"),
    }


@pytest.fixture
def actors(users):  # type: ignore[no-untyped-def]
    return {k: Actor(user=u, via="web") for k, u in users.items()}
