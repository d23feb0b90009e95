"""Login throttling: django-axes counts the failures in the database, this module sets its rules.

- An account is locked *from one address* after `AXES_FAILURE_LIMIT` wrong passwords within the
  cool-off (`CPER_LOGIN_COOLOFF_MINUTES`); an address that fails `CPER_LOGIN_ADDRESS_LIMIT`
  times, whatever the accounts, is locked as a whole (so cycling through usernames does not
  let one client keep the server hashing passwords).
- A locked login is refused by the first authentication backend, before any password is hashed,
  with the login page and a French message (HTTP 429).
- Administrators unlock with `cper user unlock NAME [--address IP]` or from the admin.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from cper.accounts.permissions import require_actor
from cper.audit.services import Actor

logger = logging.getLogger("cper.security")

LOCKOUT_MESSAGE = (
    "Trop de tentatives de connexion infructueuses depuis votre adresse : par sécurité, la "
    "connexion est suspendue pendant {minutes} minutes. Réessayez plus tard, ou demandez à un "
    "administrateur de débloquer votre compte."
)


def cooloff() -> timedelta:
    return timedelta(minutes=settings.CPER_LOGIN_COOLOFF_MINUTES)


def lockout_message() -> str:
    return LOCKOUT_MESSAGE.format(minutes=settings.CPER_LOGIN_COOLOFF_MINUTES)


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str | None:
    """The caller's address, as the API's rate limits see it: the socket's address, or the one
    the `CPER_NUM_PROXIES`-th trusted proxy saw (X-Forwarded-For read from the right). A value
    that is not an IP address is never trusted (it could not be stored either)."""
    remote = _valid_ip(request.META.get("REMOTE_ADDR"))
    proxies = settings.CPER_NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = forwarded.split(",")
    return _valid_ip(addresses[-min(proxies, len(addresses))]) or remote


def address_failures(address: str | None, *, now: datetime | None = None) -> int:
    """Failed logins from one address within the cool-off, whatever the accounts."""
    if address is None:
        return 0
    since = (now or timezone.now()) - cooloff()
    total = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since).aggregate(
        n=Sum("failures_since_start")
    )["n"]
    return int(total or 0)


class LoginThrottleBackend(AxesStandaloneBackend):
    """First of AUTHENTICATION_BACKENDS: refuses a locked login before any password is hashed —
    locked by django-axes for (account, address), or locked as an address."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        # axes: raises AxesBackendRequestParameterRequired without a request, and
        # AxesBackendPermissionDenied when (account, address) is locked.
        super().authenticate(request, username=username, password=password, **kwargs)
        if request is None or not getattr(settings, "AXES_ENABLED", True):
            return None
        AxesProxyHandler.update_request(request)
        address = getattr(request, "axes_ip_address", None)
        if address_failures(address) >= settings.CPER_LOGIN_ADDRESS_LIMIT:
            request.axes_locked_out = True  # type: ignore[attr-defined]
            raise AxesBackendPermissionDenied("adresse bloquée : trop d'échecs de connexion")
        return None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """The login page with the lockout message (django-axes calls this for a refused login)."""
    response = render(
        request,
        "registration/login.html",
        {"locked_out": True, "lockout_message": lockout_message(), "next": ""},
        status=429,
    )
    response["Retry-After"] = str(int(cooloff().total_seconds()))
    return response


@dataclass(frozen=True)
class LockedLogin:
    """A (username, address) pair with failures within the cool-off."""

    username: str | None
    address: str | None
    failures: int
    last_attempt: datetime
    locked: bool


def logins_failing(*, now: datetime | None = None) -> list[LockedLogin]:
    """The pairs with recent failures, most failures first (what an administrator looks at)."""
    since = (now or timezone.now()) - cooloff()
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=since)
        .values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .order_by("-failures", "username", "ip_address")
    )
    return [
        LockedLogin(
            username=r["username"],
            address=r["ip_address"],
            failures=int(r["failures"]),
            last_attempt=r["last"],
            locked=int(r["failures"]) >= settings.AXES_FAILURE_LIMIT,
        )
        for r in rows
    ]


@transaction.atomic
def login_unlock(*, actor: Actor, username: str | None = None, address: str | None = None) -> int:
    """Forget the failed logins of an account (from every address), of an address, or of the
    pair: the lock is lifted at once. Returns how many failure records were deleted."""
    require_actor(actor, "user.manage")
    if not username and not address:
        raise ValueError("un identifiant ou une adresse est nécessaire")
    count = reset(ip=address or None, username=username or None)
    # The audit trail's actions are a closed list without an "unlocked" entry yet: the
    # security log records who lifted which lock.
    logger.warning(
        "connexion débloquée : identifiant=%s adresse=%s par %s (%s) ; %d enregistrement(s) "
        "d'échec effacé(s)",
        username or "*",
        address or "*",
        getattr(actor.user, "username", None) or "système",
        actor.via,
        count,
    )
    return count
