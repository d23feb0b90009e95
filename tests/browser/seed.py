"""The browser tests' database, prepared in one process: migrations, the reference geography,
the Hauts-de-France contract and a small deterministic demo (`cper demo`, 300 operations with
their commitments and payments). One interpreter instead of one per command: each start of
Django costs seconds on a loaded machine.

    DATABASE_URL=sqlite:///…/cper.sqlite3 python -m tests.browser.seed contracts/….yaml
"""

from __future__ import annotations

import os
import sys


def run(contract_file: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    import django

    django.setup()
    # Django's commands are importable only once it is set up.
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("geo", "load")
    call_command("contract", "load", contract_file)
    call_command("demo", "--scale", "S", "--operations", "300")


if __name__ == "__main__":
    run(sys.argv[1])
