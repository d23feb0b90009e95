"""Who calls: a personal token (`Authorization: Bearer cper_…`) or nobody (published data only).

Either way `request.user` is set to the caller (the token's owner, or AnonymousUser — the API
ignores session cookies), so views hand it to the same permission function as the pages.
Rate limits are per token (and per address for anonymous callers), over a sliding window kept
in Django's cache; the rates are read from settings at each request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from cper.api.models import ApiToken
from cper.api.services import token_authenticate


class BearerToken(HttpBearer):
    """Personal API token, created on the page « Mon compte › Jetons d'API » (/compte/jetons/)."""

    def __call__(self, request: HttpRequest) -> Any:
        value = request.headers.get(self.header)
        if value and value.split(" ")[0].lower() != self.openapi_scheme:
            raise AuthenticationError(
                message="En-tête Authorization non reconnu : « Bearer <jeton> » attendu."
            )
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = token_authenticate(token.strip())
        if found is None:
            raise AuthenticationError(message="Jeton d'API invalide ou révoqué.")
        request.user = found.user
        return found


class Anonymous:
    """The caller without a token: sees published data only."""

    def __str__(self) -> str:
        return "anonyme"


ANONYMOUS = Anonymous()


def anonymous(request: HttpRequest) -> Anonymous | None:
    if request.headers.get("Authorization"):
        return None  # a header was sent and refused above: never fall back to anonymous
    request.user = AnonymousUser()
    return ANONYMOUS


_PERIODS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" → (600, 60); "10/5s" → (10, 5)."""
    count, _, rest = rate.partition("/")
    digits = "".join(ch for ch in rest if ch.isdigit())
    unit = rest[len(digits) :] or "s"
    return int(count), int(digits or 1) * _PERIODS[unit]


class _Throttle(BaseThrottle):
    """A sliding window: the times of the last requests, kept in the cache under one key."""

    setting = ""
    default = ""

    def __init__(self) -> None:
        self._local = threading.local()  # the wait of the request being refused, per thread

    def get_cache_key(self, request: HttpRequest) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: HttpRequest) -> bool:
        key = self.get_cache_key(request)
        if key is None:
            return True
        count, period = parse_rate(getattr(settings, self.setting, self.default))
        now = time.time()
        history = [t for t in cache.get(key, []) if t > now - period]
        if len(history) >= count:
            self._local.wait = min(history) + period - now
            return False
        history.append(now)
        cache.set(key, history, period)
        return True

    def wait(self) -> float | None:
        return max(getattr(self._local, "wait", 1.0), 1.0)


class TokenThrottle(_Throttle):
    setting, default = "CPER_API_RATE_TOKEN", "600/min"

    def get_cache_key(self, request: HttpRequest) -> str | None:
        auth = getattr(request, "auth", None)
        return f"cper_api_rate_token_{auth.pk}" if isinstance(auth, ApiToken) else None


class AnonymousThrottle(_Throttle):
    setting, default = "CPER_API_RATE_ANONYMOUS", "120/min"

    def get_cache_key(self, request: HttpRequest) -> str | None:
        if isinstance(getattr(request, "auth", None), ApiToken):
            return None
        return f"cper_api_rate_anon_{self.get_ident(request)}"


TOKEN = BearerToken()
# Reads: a token, or nobody. Writes: a token.
READ_AUTH: list[Callable[..., Any]] = [TOKEN, anonymous]
WRITE_AUTH: list[Callable[..., Any]] = [TOKEN]
THROTTLES: list[BaseThrottle] = [TokenThrottle(), AnonymousThrottle()]
# OpenAPI: on reads the token is optional (an empty requirement means "no authentication").
OPTIONAL_SECURITY: dict[str, Any] = {"security": [{}]}
