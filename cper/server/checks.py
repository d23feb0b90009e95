"""What a production start requires before it serves anyone."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SECRET_KEY_MISSING = (
    "SECRET_KEY n'est pas défini : un démarrage en production (DEBUG désactivé) exige une clé "
    "secrète propre au site, par exemple "
    "`export SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\"` "
    "(voir docs/deploiement.md). Pour la démonstration locale : DJANGO_DEBUG=1 ou `make run`. "
    "/ SECRET_KEY is not set: a production start (DEBUG off) needs a secret key of its own."
)


def secret_key_problem() -> str | None:
    """The refusal message if this start must not serve, else None."""
    if settings.DEBUG or getattr(settings, "SECRET_KEY_FROM_ENVIRONMENT", False):
        return None
    return SECRET_KEY_MISSING


def refuse_without_secret_key() -> None:
    """Raise ImproperlyConfigured when DEBUG is off and SECRET_KEY was not given: the built-in
    key is public (it is in the sources), so sessions and CSRF tokens signed with it could be
    forged by anyone."""
    problem = secret_key_problem()
    if problem:
        raise ImproperlyConfigured(problem)
