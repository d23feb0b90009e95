"""What the backup tests compare between two databases, printed as JSON by a separate process:
the audit trail (count and digest of every field of every entry, in order) and the accounts.

    DATABASE_URL=… python -m tests.backup.probe
"""

from __future__ import annotations

import hashlib
import json
import os


def run() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    import django

    django.setup()
    # The models are importable only once Django is set up.
    from cper.accounts.models import User
    from cper.audit.models import AuditEntry

    digest = hashlib.sha256()
    count = 0
    fields = [f.attname for f in AuditEntry._meta.concrete_fields]
    for row in AuditEntry.objects.order_by("id").values_list(*fields).iterator():
        digest.update(json.dumps(row, default=str, sort_keys=True).encode())
        count += 1
    users = sorted(
        User.objects.values_list("username", "role", "organisation__code", "email", "is_staff")
    )
    print(json.dumps({"audit": [count, digest.hexdigest()], "users": users}))


if __name__ == "__main__":
    run()
