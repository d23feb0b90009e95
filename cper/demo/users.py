"""Demo accounts, one per role, so that a newcomer can log in after `make run`.

Never create them on a production database (`cper demo --no-users`): their passwords are public
(docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from cper.accounts.models import Organisation, Role, User
from cper.accounts.services import UserDraft, users_create
from cper.audit.services import Actor


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    organisation: str | None  # Organisation.code
    staff: bool
    label: str


DEMO_USERS = (
    DemoUser("admin", "admin-demo", Role.ADMINISTRATOR, None, True, "Administrateur"),
    DemoUser("instructeur", "instructeur-demo", Role.INSTRUCTOR, "etat", True, "Instructrice SGAR"),
    DemoUser("etat", "etat-demo", Role.PARTNER_MANAGER, "etat", True, "Gestionnaire État"),
    DemoUser(
        "region",
        "region-demo",
        Role.PARTNER_MANAGER,
        "region-hauts-de-france",
        True,
        "Gestionnaire Région",
    ),
    DemoUser(
        "nord", "nord-demo", Role.PARTNER_MANAGER, "departement-59", True, "Gestionnaire Nord"
    ),
    DemoUser("observateur", "observateur-demo", Role.OBSERVER, None, False, "Membre du CESER"),
    DemoUser("public", "public-demo", Role.PUBLIC, None, False, "Visiteur"),
)


def demo_users_ensure(*, actor: Actor | None = None) -> list[str]:
    """Create the demo accounts that do not exist yet (an existing username is left alone),
    through `cper.accounts.services.users_create` (one batch, audited). Returns the usernames
    created."""
    orgs = {o.code: o for o in Organisation.objects.all()}
    existing = set(
        User.objects.filter(username__in=[s.username for s in DEMO_USERS]).values_list(
            "username", flat=True
        )
    )
    drafts = []
    for spec in DEMO_USERS:
        if spec.username in existing:
            continue
        if spec.organisation and spec.organisation not in orgs:
            continue  # the contract naming this organisation is not loaded
        first, _, last = spec.label.partition(" ")
        drafts.append(
            UserDraft(
                username=spec.username,
                password=spec.password,
                role=spec.role,
                organisation=orgs.get(spec.organisation) if spec.organisation else None,
                is_staff=spec.staff,
                first_name=first,
                last_name=f"{last} (démonstration)".strip(),
                email=f"{spec.username}@demo.invalid",
            )
        )
    users = users_create(actor=actor or Actor.cli(), drafts=drafts)
    return [u.username for u in users]
