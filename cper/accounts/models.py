"""Users, the organisations they belong to, and their role.

An organisation is a public body (the State, a Region, a département, a métropole…) that may be a
partner of several contracts; a contract's `Partner` points to it. Observers belong to none.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models


class Organisation(models.Model):
    code = models.SlugField("code", max_length=50, unique=True)
    name = models.CharField("nom", max_length=200)
    siren = models.CharField("SIREN", max_length=9, blank=True)

    class Meta:
        verbose_name = "organisation"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", "administrateur"
    PARTNER_MANAGER = "partner_manager", "gestionnaire d'un partenaire"
    INSTRUCTOR = "instructor", "instructeur"
    OBSERVER = "observer", "observateur"
    PUBLIC = "public", "public"


class User(AbstractUser):
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
        verbose_name="organisation",
    )
    role = models.CharField("rôle", max_length=20, choices=Role.choices, default=Role.OBSERVER)

    class Meta:
        verbose_name = "utilisateur"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="partner_manager") | models.Q(organisation__isnull=False),
                name="partner_manager_has_organisation",
            )
        ]

    def can(self, action: str, obj: Any = None) -> bool:
        """`cper.accounts.permissions.can` for this user: what the apps accounts depends on
        (the audit trail's admin) ask, without importing accounts."""
        # Same app; `permissions` imports this module, so it is imported when first asked.
        from cper.accounts import permissions

        return permissions.can(self, action, obj)
