"""Personal API tokens and the record of idempotent writes.

A token is shown once, when it is created; only the SHA-256 digest of its secret is stored, so a
stolen database gives no usable token. A token acts as its owner: same role, same organisation,
same permission function as the pages.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name="titulaire",
    )
    name = models.CharField("nom", max_length=100)
    # The first characters of the token, shown in lists so the owner recognises it.
    prefix = models.CharField("début du jeton", max_length=16)
    digest = models.CharField("empreinte SHA-256", max_length=64, unique=True)
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    last_used_at = models.DateTimeField("dernière utilisation", null=True, blank=True)
    revoked_at = models.DateTimeField("révoqué le", null=True, blank=True)

    class Meta:
        verbose_name = "jeton d'API"
        verbose_name_plural = "jetons d'API"
        ordering = ["user", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an `Idempotency-Key`: a retry gets it again.

    The row is inserted *before* the write runs (state `pending`), so of two identical requests
    racing each other only one runs; the other is told to retry, then gets the stored answer.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField("clé", max_length=100)
    fingerprint = models.CharField("empreinte de la requête", max_length=64)
    status_code = models.PositiveSmallIntegerField("statut HTTP", null=True, blank=True)
    body = models.JSONField("réponse", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "requête idempotente"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")
        ]


class RateCounter(models.Model):
    """The requests counted in one window for one key (a token, an address): the API's rate
    limits, shared by every worker process because they live in the database.

    One row per key: a hit increments `hits` while the window that began at `started` is open,
    and restarts the window otherwise, in one UPDATE, so concurrent requests never lose a hit.
    """

    key = models.CharField("clé", max_length=200, unique=True)
    # Seconds since the epoch of the window's first request (a float, like `time.time()`).
    started = models.FloatField("début de la fenêtre", db_index=True)
    hits = models.PositiveIntegerField("requêtes comptées")

    class Meta:
        verbose_name = "compteur de requêtes"
        verbose_name_plural = "compteurs de requêtes"

    def __str__(self) -> str:
        return f"{self.key} : {self.hits}"
