"""The account of an agent who signs in with ProConnect, from the claims: created at the first
sign-in with the role its organisation's SIRET maps to, kept up to date, audited; and the
backend's checks of ProConnect's tokens. (End to end against a provider: tests/oidc/.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest
from django.core.exceptions import SuspiciousOperation, ValidationError

from cper.accounts.models import Organisation, Role, User
from cper.accounts.oidc import ProConnectBackend
from cper.accounts.services import organisation_for_siret, user_from_proconnect
from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.contracts.models import Partner

NORD_SIRET = "22590001800011"  # SIREN of the Département du Nord (contract file) + a NIC
UNKNOWN_SIRET = "11002001300097"


def claims(**over: Any) -> dict[str, Any]:
    return {
        "sub": "abc",
        "email": "Camille.Lefebvre@nord.exemple.fr",
        "given_name": "Camille",
        "usual_name": "Lefebvre",
        "siret": NORD_SIRET,
        "uid": "1",
        "idp_id": "fia1",
        **over,
    }


def entries(action: AuditAction) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def test_a_first_sign_in_whose_siret_maps_to_a_partner_gets_its_role(hdf):
    user = user_from_proconnect(claims=claims())
    assert user.role == Role.PARTNER_MANAGER
    assert user.organisation == Organisation.objects.get(code="departement-59")
    assert (user.username, user.email) == ("camille.lefebvre@nord.exemple.fr",) * 2
    assert (user.first_name, user.last_name) == ("Camille", "Lefebvre")
    assert not user.has_usable_password() and not user.is_staff
    [entry] = entries(AuditAction.USER_CREATED)
    assert entry.user == user and entry.subject_id == str(user.pk)
    assert entry.changes["role"] == {"avant": None, "après": "partner_manager"}
    assert "SIRET 22590001800011" in entry.message and "fia1" in entry.message


@pytest.mark.parametrize("siret", [UNKNOWN_SIRET, "", None, "1234", "abcdefghijklmn"])
def test_a_first_sign_in_whose_siret_maps_to_no_partner_is_an_observer(hdf, siret):
    user = user_from_proconnect(claims=claims(siret=siret))
    assert user.role == Role.OBSERVER and user.organisation is None
    assert len(entries(AuditAction.USER_CREATED)) == 1


def test_a_siret_written_with_spaces_is_read(hdf):
    user = user_from_proconnect(claims=claims(siret="225 900 018 00011"))
    assert user.organisation.code == "departement-59"


def test_a_partner_s_own_siret_wins_and_an_ambiguous_siren_maps_to_nothing(hdf):
    region = Partner.objects.get(contract=hdf, code="region")
    Partner.objects.filter(pk=region.pk).update(siret="20005374200013")
    assert organisation_for_siret("20005374200013") == region.organisation
    # Two organisations answering one SIREN: no rights are guessed.
    Organisation.objects.filter(code="departement-60").update(siren="225900018")
    assert organisation_for_siret(NORD_SIRET) is None


def test_the_next_sign_in_is_the_same_account_with_its_names_updated(hdf):
    first = user_from_proconnect(claims=claims())
    again = user_from_proconnect(claims=claims(email="camille.lefebvre@NORD.exemple.fr"))
    assert again.pk == first.pk and User.objects.count() == 1
    assert entries(AuditAction.USER_UPDATED) == []  # nothing changed, nothing written
    user_from_proconnect(claims=claims(usual_name="Lefebvre-Martin"))
    first.refresh_from_db()
    assert first.last_name == "Lefebvre-Martin"
    [entry] = entries(AuditAction.USER_UPDATED)
    assert entry.changes == {"last_name": {"avant": "Lefebvre", "après": "Lefebvre-Martin"}}


def test_a_local_account_with_the_address_is_the_agent_s_and_keeps_its_rights(hdf):
    """An administrator created the account and made the agent an instructor of the State; a
    SIRET that maps to no partner leaves that as it is."""
    etat = Organisation.objects.get(code="etat")
    local = User.objects.create_user(
        "cl", email="camille.lefebvre@nord.exemple.fr", role=Role.INSTRUCTOR, organisation=etat
    )
    user = user_from_proconnect(claims=claims(siret=UNKNOWN_SIRET))
    assert user.pk == local.pk
    assert (user.role, user.organisation, user.username) == (Role.INSTRUCTOR, etat, "cl")
    assert user.check_password("") is False


def test_a_siret_of_another_partner_moves_the_agent_there(hdf):
    aisne = Organisation.objects.get(code="departement-02")
    User.objects.create_user(
        "cl",
        email="camille.lefebvre@nord.exemple.fr",
        role=Role.PARTNER_MANAGER,
        organisation=aisne,
    )
    user = user_from_proconnect(claims=claims())
    assert user.organisation.code == "departement-59" and user.role == Role.PARTNER_MANAGER
    [entry] = entries(AuditAction.USER_UPDATED)
    assert set(entry.changes) == {"organisation", "first_name", "last_name"}
    assert entry.changes["organisation"]["après"] == str(user.organisation.pk)


def test_an_administrator_keeps_the_role(hdf):
    User.objects.create_superuser("adm", email="camille.lefebvre@nord.exemple.fr", password="x")
    user = user_from_proconnect(claims=claims())
    assert user.is_superuser and user.organisation is None


def test_no_address_or_two_accounts_with_it_refuse_the_sign_in(hdf):
    with pytest.raises(ValidationError):
        user_from_proconnect(claims=claims(email=""))
    for name in ("a", "b"):
        User.objects.create_user(name, email="camille.lefebvre@nord.exemple.fr")
    with pytest.raises(ValidationError, match="plusieurs comptes"):
        user_from_proconnect(claims=claims())
    assert not AuditEntry.objects.filter(action=AuditAction.USER_CREATED).exists()


def test_a_taken_username_gets_a_number(hdf):
    User.objects.create_user("camille.lefebvre@nord.exemple.fr", email="autre@exemple.fr")
    user = user_from_proconnect(claims=claims())
    assert user.username == "camille.lefebvre@nord.exemple.fr-2"


# --- the backend's checks ---------------------------------------------------------------------

SECRET = "un-secret-de-test-assez-long-pour-hs256"


@pytest.fixture
def backend(settings) -> ProConnectBackend:
    settings.PROCONNECT_ENABLED = True
    settings.PROCONNECT_ISSUER = "https://proconnect.exemple"
    settings.OIDC_RP_CLIENT_ID = "cper"
    settings.OIDC_RP_CLIENT_SECRET = SECRET
    settings.OIDC_RP_SIGN_ALGO = "HS256"  # ProConnect allows it; the key is the secret
    return ProConnectBackend()


def token(**over: Any) -> str:
    payload = {
        "iss": "https://proconnect.exemple",
        "aud": "cper",
        "sub": "abc",
        "nonce": "n" * 32,
        "exp": int(time.time()) + 60,
        "iat": int(time.time()),
        **over,
    }
    return jwt.encode(payload, SECRET, algorithm="HS256")


def test_the_id_token_must_be_for_cper_from_proconnect(backend):
    assert backend.verify_token(token(), nonce="n" * 32)["sub"] == "abc"
    with pytest.raises(SuspiciousOperation, match="autre client"):
        backend.verify_token(token(aud="un-autre-service"), nonce="n" * 32)
    with pytest.raises(SuspiciousOperation, match="autre client"):
        backend.verify_token(token(aud=None), nonce="n" * 32)
    with pytest.raises(SuspiciousOperation, match="émetteur"):
        backend.verify_token(token(iss="https://ailleurs.exemple"), nonce="n" * 32)
    with pytest.raises(SuspiciousOperation, match="Nonce"):
        backend.verify_token(token(), nonce="m" * 32)


def test_the_userinfo_must_be_about_the_id_token_s_subject(backend, hdf, monkeypatch):
    monkeypatch.setattr(backend, "get_userinfo", lambda *a: claims(sub="quelqu-un-d-autre"))
    with pytest.raises(SuspiciousOperation, match="autre sujet"):
        backend.get_or_create_user("at", "it", {"sub": "abc"})
    monkeypatch.setattr(backend, "get_userinfo", lambda *a: claims(email=None))
    with pytest.raises(SuspiciousOperation, match="incomplète"):
        backend.get_or_create_user("at", "it", {"sub": "abc"})
    monkeypatch.setattr(backend, "get_userinfo", lambda *a: claims())
    assert backend.get_or_create_user("at", "it", {"sub": "abc"}).role == Role.PARTNER_MANAGER
    assert not User.objects.exclude(email="camille.lefebvre@nord.exemple.fr").exists()


def test_the_backend_leaves_password_sign_ins_alone(backend, rf):
    assert backend.authenticate(rf.get("/"), username="x", password="y") is None


# --- the settings -----------------------------------------------------------------------------

SHOW_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.PROCONNECT_ENABLED, s.AUTHENTICATION_BACKENDS)"
)


def _settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROCONNECT_")}
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        env={**clean, "DJANGO_SETTINGS_MODULE": "cper.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_proconnect_is_on_only_with_its_variables_and_half_of_them_refuse_the_start():
    off = _settings_with()
    assert off.returncode == 0 and "ProConnectBackend" not in off.stdout
    on = _settings_with(
        PROCONNECT_CLIENT_ID="id", PROCONNECT_CLIENT_SECRET="s", PROCONNECT_ISSUER="https://pc"
    )
    assert on.returncode == 0 and on.stdout.startswith("True")
    # Appended after the local backends (the login throttling stays first).
    assert on.stdout.rstrip().endswith("'cper.accounts.oidc.ProConnectBackend']")
    assert "ModelBackend" in on.stdout
    half = _settings_with(PROCONNECT_CLIENT_ID="id")
    assert half.returncode != 0 and "ProConnect incomplet" in half.stderr
