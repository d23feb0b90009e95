"""Login throttling (issue 15, item 5): wrong passwords lock an account from one address, a
flood from one address locks the address, a locked login hashes no password, and an
administrator lifts the lock (command line or admin)."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any, ClassVar

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, RequestFactory

from cper.accounts.models import Role
from cper.accounts.throttling import client_address
from tests.api.conftest import make_user

pytestmark = pytest.mark.django_db

LOGIN = "/connexion/"
PASSWORD = "le-bon-mot-de-passe"
LOCKED = "Connexion temporairement bloquée"


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast) that counts every password it hashes or checks."""

    algorithm = "counting_md5"
    calls: ClassVar[list[str]] = []

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.calls.append("encode")
        return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        CountingHasher.calls.append("verify")
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def _counting_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.calls.clear()


def account(username: str = "alice", **fields: Any) -> Any:
    user = make_user(username=username, **fields)
    user.set_password(PASSWORD)
    user.save()
    return user


def attempt(username: str, password: str, address: str = "10.0.0.1") -> Any:
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(times: int, username: str = "alice", address: str = "10.0.0.1") -> list[int]:
    return [attempt(username, "faux", address).status_code for _ in range(times)]


def test_thirty_wrong_passwords_then_the_right_one_is_refused():
    account()
    statuses = fail(30)
    # Nine ordinary refusals; the tenth failure locks the pair (it answers the lockout page).
    assert statuses[:9] == [200] * 9
    assert set(statuses[9:]) == {429}
    response = attempt("alice", PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page and "15 minutes" in page and "administrateur" in page
    assert "Identifiant ou mot de passe incorrect" not in page
    assert int(response["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in response.client.session


def test_a_locked_login_hashes_no_password():
    account()
    fail(10)
    CountingHasher.calls.clear()
    assert attempt("alice", PASSWORD).status_code == 429
    assert attempt("alice", "faux").status_code == 429
    assert CountingHasher.calls == []


def test_the_lock_holds_one_account_from_one_address():
    account("alice")
    account("bob")
    fail(10, "alice", "10.0.0.1")
    assert attempt("alice", PASSWORD, "10.0.0.1").status_code == 429
    # The same account from elsewhere, another account from the same address: not locked.
    assert attempt("alice", PASSWORD, "10.0.0.2").status_code == 302
    assert attempt("bob", PASSWORD, "10.0.0.1").status_code == 302


def test_a_success_before_the_limit_forgets_the_failures():
    account()
    fail(9)
    assert attempt("alice", PASSWORD).status_code == 302
    assert fail(9) == [200] * 9
    assert attempt("alice", PASSWORD).status_code == 302


def test_an_address_failing_on_many_accounts_is_locked_as_a_whole(settings):
    settings.CPER_LOGIN_ADDRESS_LIMIT = 20
    account("alice")
    # One client cycling through names: never ten failures for one name, twenty in all.
    for i in range(20):
        assert attempt(f"inconnu{i}", "faux", "10.0.0.9").status_code == 200
    CountingHasher.calls.clear()
    refused = attempt("alice", PASSWORD, "10.0.0.9")
    assert refused.status_code == 429 and LOCKED in refused.content.decode()
    assert attempt("quelquun", "x", "10.0.0.9").status_code == 429
    assert CountingHasher.calls == []  # nor even the hash done for an unknown name
    assert attempt("alice", PASSWORD, "10.0.0.8").status_code == 302


def test_the_lock_ends_after_the_cool_off():
    account()
    fail(10)
    assert attempt("alice", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert attempt("alice", PASSWORD).status_code == 302


def test_the_command_line_lists_and_lifts_a_lock():
    account()
    fail(12)
    out = StringIO()
    call_command("user", "locked", stdout=out)
    assert "BLOQUÉ" in out.getvalue() and "alice" in out.getvalue()
    assert "10.0.0.1" in out.getvalue()
    out = StringIO()
    call_command("user", "unlock", "alice", stdout=out)
    assert "Connexion débloquée pour « alice »" in out.getvalue()
    assert attempt("alice", PASSWORD).status_code == 302
    out = StringIO()
    call_command("user", "unlock", "alice", stdout=out)
    assert "rien à débloquer" in out.getvalue()


def test_the_command_line_lifts_an_address_lock(settings):
    settings.CPER_LOGIN_ADDRESS_LIMIT = 3
    account()
    for i in range(3):
        attempt(f"x{i}", "faux", "10.0.0.7")
    assert attempt("alice", PASSWORD, "10.0.0.7").status_code == 429
    call_command("user", "unlock", "--address", "10.0.0.7", stdout=StringIO())
    assert attempt("alice", PASSWORD, "10.0.0.7").status_code == 302


def test_an_administrator_lifts_the_lock_from_the_admin():
    alice = account()
    fail(10)
    admin = make_user(username="chef", role=Role.ADMINISTRATOR, is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        "/admin/accounts/user/",
        {"action": "unlock_login", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert "Connexion débloquée pour 1 utilisateur(s)." in response.content.decode()
    assert attempt("alice", PASSWORD).status_code == 302


def test_the_login_address_is_the_socket_unless_proxies_are_trusted(settings):
    factory = RequestFactory()
    forwarded = factory.post(LOGIN, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    settings.CPER_NUM_PROXIES = 0
    assert client_address(forwarded) == "10.0.0.1"  # a client cannot choose its address
    settings.CPER_NUM_PROXIES = 1
    assert client_address(forwarded) == "1.2.3.4"
    garbage = factory.post(LOGIN, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="<script>")
    assert client_address(garbage) == "10.0.0.1"  # not an address: never stored as one


def test_the_command_line_asks_what_to_unlock():
    with pytest.raises(CommandError, match="Indiquez un identifiant"):
        call_command("user", "unlock", stdout=StringIO())
