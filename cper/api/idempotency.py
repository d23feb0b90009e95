"""Idempotent writes: a retried request never writes twice.

A write sent with an `Idempotency-Key` header is recorded *before* it runs; the same key with
the same request (method, path, body) gets the first answer again (`Idempotent-Replayed: true`),
the same key with another request gets 409, and a retry arriving while the first is still
running gets 409 `requete_en_cours` with Retry-After. The reservation relies on a unique
constraint, so two concurrent requests cannot both run. A write that fails releases its key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Header, Status

from cper.api.errors import ApiError
from cper.api.models import IdempotencyRecord

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,79}$"
KEY_DESCRIPTION = (
    "Clé choisie par le client (1 à 80 caractères : lettres, chiffres, « . _ : - ») ; "
    "une requête renvoyée avec la même clé n'écrit pas une seconde fois."
)
# The header parameter of every idempotent write: `idempotency_key: str | None = IdempotencyKey`.
IdempotencyKey = Header(
    None, alias="Idempotency-Key", pattern=KEY_PATTERN, description=KEY_DESCRIPTION
)
# A reservation left `pending` longer than this (a crashed worker) is given up.
STALE_AFTER = dt.timedelta(minutes=5)

Result = tuple[int, Any]


def fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def _reserve(user: Any, key: str, fp: str) -> IdempotencyRecord | None:
    """Insert the reservation; None if the key is already taken."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(user=user, key=key, fingerprint=fp)
    except IntegrityError:
        return None


def run_idempotent(
    request: HttpRequest, key: str | None, write: Callable[[], Result]
) -> tuple[int, Any, bool]:
    """Run `write` once per (user, key): (status, body, replayed)."""
    if not key:
        status, body = write()
        return status, body, False
    user: Any = request.user
    fp = fingerprint(request)
    record = _reserve(user, key, fp)
    if record is None:
        existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if existing is None:  # released in between: try once more
            record = _reserve(user, key, fp)
        elif existing.fingerprint != fp:
            raise ApiError(
                409,
                "cle_idempotence_reutilisee",
                "Cette clé d'idempotence a déjà servi pour une autre requête.",
                "Idempotency-Key",
            )
        elif existing.status_code is not None:
            return existing.status_code, existing.body, True
        elif timezone.now() - existing.created_at > STALE_AFTER:
            existing.delete()
            record = _reserve(user, key, fp)
        if record is None:
            raise ApiError(
                409,
                "requete_en_cours",
                "Une requête identique est en cours de traitement ; réessayez dans un instant.",
                "Idempotency-Key",
                headers={"Retry-After": "1"},
            )
    try:
        status, body = write()
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        raise
    IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=status, body=body)
    return status, body, False


def respond(
    request: HttpRequest, response: HttpResponse, key: str | None, write: Callable[[], Result]
) -> Status[Any]:
    """The view's answer: `write` run once per key, its first answer replayed after."""
    status, body, replayed = run_idempotent(request, key, write)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return Status(status, body)
