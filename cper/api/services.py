"""Personal API tokens: created, listed and revoked by their owner; stored as a SHA-256 digest.

A token reads `cper_` followed by 43 random URL-safe characters (256 bits). It is shown once, on
creation; the database keeps only its digest and its first characters (to recognise it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cper.api.models import ApiToken
from cper.audit.actions import AuditAction
from cper.audit.models import Via
from cper.audit.services import Actor, audit_record

TOKEN_PREFIX = "cper_"
SHOWN_PREFIX_LENGTH = 12
# `last_used_at` is written at most once per this period, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    raw: str  # shown once to its owner, never stored


def token_create(*, user: Any, name: str) -> CreatedToken:
    name = name.strip()[:100] or "Jeton"
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=raw[:SHOWN_PREFIX_LENGTH], digest=token_digest(raw)
        )
        audit_record(
            actor=Actor(user=user, via=Via.WEB),
            action=AuditAction.API_TOKEN_CREATED,
            subject=token,
            changes={"nom": name, "début": token.prefix},
        )
    return CreatedToken(token=token, raw=raw)


def token_revoke(*, user: Any, token_id: int, actor: Actor | None = None) -> ApiToken:
    """Revoke one of `user`'s tokens (another user's token is not found: DoesNotExist). The
    owner revokes from the tokens page; an administrator from the admin (`actor`)."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                actor=actor or Actor(user=user, via=Via.WEB),
                action=AuditAction.API_TOKEN_REVOKED,
                subject=token,
                changes={"début": token.prefix},
            )
    return token


def tokens_of(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token whose secret is `raw`, with its user; None if unknown or revoked."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user", "user__organisation")
        .filter(digest=token_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
