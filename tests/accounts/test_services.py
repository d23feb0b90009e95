"""Accounts created through `users_create`: one batch, audited, all or nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cper.accounts.models import Organisation, Role, User
from cper.accounts.services import UserDraft, users_create
from cper.audit.actions import AuditAction
from cper.audit.models import AuditEntry
from cper.audit.services import Actor
from cper.demo.users import DEMO_USERS, demo_users_ensure


def test_a_batch_is_created_and_audited_without_the_password(hdf):
    nord = Organisation.objects.get(code="departement-59")
    users = users_create(
        actor=Actor.cli(),
        drafts=[
            UserDraft(username="a", password="secret-a", role=Role.ADMINISTRATOR, is_staff=True),
            UserDraft(
                username="b", password="secret-b", role=Role.PARTNER_MANAGER, organisation=nord
            ),
        ],
    )
    assert [u.username for u in users] == ["a", "b"]
    a, b = User.objects.get(username="a"), User.objects.get(username="b")
    assert a.is_superuser and a.check_password("secret-a")
    assert not b.is_superuser and b.organisation == nord and b.check_password("secret-b")
    entries = AuditEntry.objects.filter(action=AuditAction.USER_CREATED).order_by("pk")
    assert [e.subject_id for e in entries] == [str(a.pk), str(b.pk)]
    assert entries[1].changes["organisation"]["après"] == str(nord.pk)
    assert not any("password" in e.changes for e in entries)


def test_a_taken_username_refuses_the_whole_batch(hdf):
    users_create(actor=Actor.cli(), drafts=[UserDraft("x", "p", Role.OBSERVER)])
    for drafts in (
        [UserDraft("y", "p", Role.OBSERVER), UserDraft("x", "p", Role.OBSERVER)],
        [UserDraft("z", "p", Role.OBSERVER), UserDraft("z", "p", Role.PUBLIC)],
        [UserDraft("w", "p", Role.PARTNER_MANAGER)],  # no organisation
    ):
        with pytest.raises(ValidationError) as exc:
            users_create(actor=Actor.cli(), drafts=drafts)
        assert "username" in exc.value.message_dict
    assert list(User.objects.values_list("username", flat=True)) == ["x"]
    assert AuditEntry.objects.filter(action=AuditAction.USER_CREATED).count() == 1


def test_only_an_administrator_creates_accounts(hdf, actors):
    with pytest.raises(PermissionDenied):
        users_create(actor=actors["instructor"], drafts=[UserDraft("q", "p", Role.OBSERVER)])
    users_create(actor=actors["admin"], drafts=[UserDraft("q", "p", Role.OBSERVER)])


def test_demo_accounts_keep_their_public_passwords_and_are_made_once(hdf):
    created = demo_users_ensure()
    assert created == [u.username for u in DEMO_USERS]
    for spec in DEMO_USERS:
        user = User.objects.get(username=spec.username)
        assert user.check_password(spec.password)
        assert (user.role, user.is_staff) == (spec.role, spec.staff)
        assert user.is_superuser == (spec.role == Role.ADMINISTRATOR)
        assert (user.organisation.code if user.organisation else None) == spec.organisation
    assert AuditEntry.objects.filter(action=AuditAction.USER_CREATED).count() == len(DEMO_USERS)
    assert demo_users_ensure() == []
