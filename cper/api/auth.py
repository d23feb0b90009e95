"""Who calls: a personal token (`Authorization: Bearer cper_…`) or nobody (published data only).

Either way `request.user` is set to the caller (the token's owner, or AnonymousUser — the API
ignores session cookies), so views hand it to the same permission function as the pages.
Rate limits are per token (and per address for anonymous callers), counted in the database so
that every worker process shares them (`cper.api.ratelimit`); the rates are read from settings
at each request. An address that sends too many invalid tokens is refused (429) before its
next token is even hashed or looked up.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from cper.api.errors import ApiError
from cper.api.models import ApiToken
from cper.api.ratelimit import counter_key, parse_rate, rate_hit, rate_peek
from cper.api.services import token_authenticate

# Invalid tokens are counted per address under this scope.
INVALID_TOKEN_SCOPE = "invalid-token"


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
        limit, period = parse_rate(getattr(settings, "CPER_API_RATE_INVALID_TOKENS", "20/min"))
        key = counter_key(INVALID_TOKEN_SCOPE, BaseThrottle().get_ident(request) or "")
        # Refused before any hashing or lookup: guessing tokens costs the server nothing more.
        window = rate_peek(key=key, period=period)
        if window is not None and window.hits >= limit:
            raise ApiError(
                429,
                "trop_de_jetons_invalides",
                "Trop de jetons invalides envoyés depuis votre adresse : "
                "attendez avant de réessayer (voir Retry-After).",
                headers={"Retry-After": str(math.ceil(window.retry_after()))},
            )
        found = token_authenticate(token.strip())
        if found is None:
            rate_hit(key=key, period=period)
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


class _Throttle(BaseThrottle):
    """A fixed window per key, counted in the database (`cper.api.ratelimit`): every worker
    process sees the same count, so "N per period" holds for the whole server."""

    setting = ""
    default = ""
    scope = ""

    def __init__(self) -> None:
        self._local = threading.local()  # the wait of the request being refused, per thread

    def get_ident_key(self, request: HttpRequest) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: HttpRequest) -> bool:
        ident = self.get_ident_key(request)
        if ident is None:
            return True
        count, period = parse_rate(getattr(settings, self.setting, self.default))
        window = rate_hit(key=counter_key(self.scope, ident), period=period)
        if window.hits > count:
            self._local.wait = window.retry_after()
            return False
        return True

    def wait(self) -> float | None:
        return max(getattr(self._local, "wait", 1.0), 1.0)


class TokenThrottle(_Throttle):
    setting, default, scope = "CPER_API_RATE_TOKEN", "600/min", "token"

    def get_ident_key(self, request: HttpRequest) -> str | None:
        auth = getattr(request, "auth", None)
        return str(auth.pk) if isinstance(auth, ApiToken) else None


class AnonymousThrottle(_Throttle):
    setting, default, scope = "CPER_API_RATE_ANONYMOUS", "120/min", "anonymous"

    def get_ident_key(self, request: HttpRequest) -> str | None:
        if isinstance(getattr(request, "auth", None), ApiToken):
            return None
        return self.get_ident(request) or ""


TOKEN = BearerToken()
# Reads: a token, or nobody. Writes: a token.
READ_AUTH: list[Callable[..., Any]] = [TOKEN, anonymous]
WRITE_AUTH: list[Callable[..., Any]] = [TOKEN]
THROTTLES: list[BaseThrottle] = [TokenThrottle(), AnonymousThrottle()]
# OpenAPI: on reads the token is optional (an empty requirement means "no authentication").
OPTIONAL_SECURITY: dict[str, Any] = {"security": [{}]}
