"""What the backup tests compare between two databases, printed as JSON by a separate process:
the audit trail (count and digest of every field of every entry, in order), the accounts, and,
with `--figures`, what a user reads of the figures — `cper execution` by partner (the Done-when
line), by objective and year at a past date, and `cper maquette` in force, as CSV.

    DATABASE_URL=… python -m tests.backup.probe [--figures]

The three commands run in this one process (`call_command`, the code `cper …` runs): each start
of Django costs a second or two, and the tests look at several databases.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys

from tests.conftest import HDF_SLUG

FIGURES = (
    ("execution", HDF_SLUG, "--by", "partner", "--format", "csv"),
    ("execution", HDF_SLUG, "--as-of", "2024-06-30", "--by", "objective,year", "--format", "csv"),
    ("maquette", HDF_SLUG, "--by", "partner,objective", "--format", "csv"),
)


def run(figures: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    import django

    django.setup()
    # The models and commands are usable only once Django is set up.
    from django.core.management import call_command

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
    found: dict[str, object] = {"audit": [count, digest.hexdigest()], "users": users}
    if figures:
        outputs = []
        for args in FIGURES:
            out = io.StringIO()
            call_command(*args, stdout=out)
            outputs.append(out.getvalue())
        found["figures"] = outputs
    print(json.dumps(found))


if __name__ == "__main__":
    run(figures="--figures" in sys.argv[1:])
