"""Sign-in with ProConnect (OpenID Connect), beside local accounts: docs/proconnect.md.

mozilla-django-oidc does the protocol (state, nonce, code, tokens, signatures, the userinfo
answered as a signed JWT); this module adapts it to ProConnect and to cper:

- the provider's endpoints come from the settings, or else from its discovery document
  (`{PROCONNECT_ISSUER}/.well-known/openid-configuration`), read at the first sign-in of each
  process — never at start, so that a command or a check does not depend on the provider;
- the ID token's issuer and audience are checked (the library does not), and the userinfo must
  be about the same `sub` as the ID token;
- the account is created or updated by `cper.accounts.services.user_from_proconnect` (audited),
  which gives the role that the organisation's SIRET maps to;
- signing out of cper also ends the ProConnect session (`end_session` with `id_token_hint`).

Everything answers 404 and the button is hidden unless `settings.PROCONNECT_ENABLED`.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.crypto import constant_time_compare, get_random_string
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from cper.accounts.services import user_from_proconnect

logger = logging.getLogger(__name__)

# The library's settings that the discovery document may answer, and its keys there.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "PROCONNECT_END_SESSION_ENDPOINT": "end_session_endpoint",
}
LOGOUT_STATE_KEY = "proconnect_logout_state"
ID_TOKEN_KEY = "oidc_id_token"  # where the library keeps the ID token (OIDC_STORE_ID_TOKEN)


@functools.lru_cache(maxsize=4)
def discovery(issuer: str) -> dict[str, Any]:
    """The provider's discovery document, once per process (a failure is not remembered: the
    next sign-in asks again)."""
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    response = requests.get(url, timeout=import_from_settings("OIDC_TIMEOUT", 10))
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise ImproperlyConfigured(
            f"ProConnect : le document {url} annonce l'émetteur « {document.get('issuer')} », "
            f"pas « {issuer} » (PROCONNECT_ISSUER)"
        )
    return document


def proconnect_setting(attr: str, *default: Any) -> Any:
    """A setting of the library, an endpoint left empty being read from the discovery
    document of `PROCONNECT_ISSUER`."""
    value = import_from_settings(attr, *default)
    if attr in DISCOVERED and not value:
        issuer = getattr(settings, "PROCONNECT_ISSUER", "")
        if not issuer:
            raise ImproperlyConfigured(
                f"ProConnect : {attr} vide et PROCONNECT_ISSUER absent (docs/proconnect.md)"
            )
        value = discovery(issuer).get(DISCOVERED[attr], "")
    return value


def _require_enabled() -> None:
    if not getattr(settings, "PROCONNECT_ENABLED", False):
        raise Http404("ProConnect n'est pas configuré")


def failure_url() -> str:
    """The sign-in page, which then says that ProConnect did not sign the agent in."""
    return f"{resolve_url(settings.LOGIN_URL)}?proconnect=echec"


def _unreachable(exc: Exception) -> HttpResponse:
    # ProConnect down or answering an error (discovery, token, userinfo, keys): the agent goes
    # back to the sign-in page, where a local account still works.
    logger.error("ProConnect injoignable ou en erreur : %s", exc)
    return HttpResponseRedirect(failure_url())


def _lazy(attr: str, *default: Any) -> property:
    """A setting the library reads in its `__init__`, read when used instead: Django makes a
    backend for every sign-in and every request's user, and a password sign-in must neither
    need the provider nor fail with it."""
    return property(lambda self: proconnect_setting(attr, *default))


class ProConnectBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """The authentication backend of a ProConnect sign-in (after the callback)."""

    OIDC_OP_TOKEN_ENDPOINT = _lazy("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = _lazy("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = _lazy("OIDC_OP_JWKS_ENDPOINT", None)
    OIDC_RP_CLIENT_ID = _lazy("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = _lazy("OIDC_RP_CLIENT_SECRET")
    OIDC_RP_SIGN_ALGO = _lazy("OIDC_RP_SIGN_ALGO", "RS256")
    OIDC_RP_IDP_SIGN_KEY = _lazy("OIDC_RP_IDP_SIGN_KEY", None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the library's: it reads (and checks) every setting at once, see `_lazy`.
        self.UserModel = auth.get_user_model()

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return proconnect_setting(attr, *args)

    def get_user(self, user_id: Any) -> Any:
        # Django's rule (an inactive account's session ends), not the library's.
        return ModelBackend.get_user(self, user_id)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        # The backend sits in AUTHENTICATION_BACKENDS beside the local ones: a sign-in with a
        # username and password is not for it (the library would only look for `code`).
        if not getattr(settings, "PROCONNECT_ENABLED", False) or "nonce" not in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The library's checks (signature, algorithm, nonce), then the issuer and, for the ID
        token, the audience: a token made for another client of the provider is refused."""
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        issuer = getattr(settings, "PROCONNECT_ISSUER", "")
        if issuer and "iss" in payload and payload["iss"].rstrip("/") != issuer.rstrip("/"):
            raise SuspiciousOperation("ProConnect : émetteur inattendu")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        is_id_token = "nonce" in kwargs
        if (is_id_token or audience is not None) and self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ProConnect : jeton destiné à un autre client")
        return payload

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub")) and bool(claims.get("email"))

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SuspiciousOperation("ProConnect : identité incomplète (sub, email)")
        # OpenID Connect Core 5.3.2: the userinfo must be about the ID token's subject.
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("ProConnect : userinfo d'un autre sujet que l'ID token")
        try:
            return user_from_proconnect(claims=claims)
        except ValidationError as exc:
            logger.warning("connexion ProConnect refusée : %s", "; ".join(exc.messages))
            return None


class ProConnectLoginView(OIDCAuthenticationRequestView):  # type: ignore[misc]
    """The button's target: redirects to ProConnect's authorization endpoint."""

    OIDC_OP_AUTH_ENDPOINT = _lazy("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_RP_CLIENT_ID = _lazy("OIDC_RP_CLIENT_ID")

    def __init__(self, **kwargs: Any) -> None:
        # View.__init__ only: the library's reads the settings before `dispatch` could answer
        # 404 when ProConnect is not configured.
        View.__init__(self, **kwargs)

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return proconnect_setting(attr, *args)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _require_enabled()
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[no-any-return]
        except requests.RequestException as exc:
            return _unreachable(exc)


class ProConnectCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    """ProConnect's return (`redirect_uri`): a failure goes back to the sign-in page, which
    says so."""

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return proconnect_setting(attr, *args)

    @property
    def failure_url(self) -> str:
        return failure_url()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _require_enabled()
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[no-any-return]
        except requests.RequestException as exc:
            return _unreachable(exc)


def end_session_url(request: HttpRequest, id_token: str, state: str) -> str:
    """ProConnect's `end_session_endpoint` with the parameters it requires."""
    query = urlencode(
        {
            "id_token_hint": id_token,
            "state": state,
            "post_logout_redirect_uri": request.build_absolute_uri(
                reverse("proconnect_logged_out")
            ),
        }
    )
    return f"{proconnect_setting('PROCONNECT_END_SESSION_ENDPOINT')}?{query}"


class LogoutView(auth_views.LogoutView):
    """Django's sign-out, which also ends the ProConnect session of an agent who signed in
    with it (ProConnect asks for it: otherwise the next click on the button signs the agent in
    again without a password)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        id_token = request.session.get(ID_TOKEN_KEY)
        if not (getattr(settings, "PROCONNECT_ENABLED", False) and id_token):
            return super().post(request, *args, **kwargs)
        state = get_random_string(32)
        try:
            url = end_session_url(request, id_token, state)
        except requests.RequestException as exc:
            # Signed out of cper all the same; ProConnect's session ends on its own (12 h).
            logger.error("déconnexion ProConnect impossible : %s", exc)
            return super().post(request, *args, **kwargs)
        auth.logout(request)
        # A new, anonymous session keeps the state, checked on the way back.
        request.session[LOGOUT_STATE_KEY] = state
        return HttpResponseRedirect(url)


def logged_out(request: HttpRequest) -> HttpResponse:
    """ProConnect's return after its sign-out (`post_logout_redirect_uri`)."""
    _require_enabled()
    expected = request.session.pop(LOGOUT_STATE_KEY, "")
    if not (expected and constant_time_compare(expected, request.GET.get("state", ""))):
        # Signed out here anyway; only a forged return would land here, and it changes nothing.
        logger.warning("retour de déconnexion ProConnect sans état valide")
    return HttpResponseRedirect(resolve_url(settings.LOGOUT_REDIRECT_URL or "/"))
