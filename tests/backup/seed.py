"""The source database of the backup tests, prepared in one process (each start of Django costs
seconds): migrations, the reference geography, the Hauts-de-France contract, a small
deterministic demo with its accounts, and an uploaded file under MEDIA_ROOT.

    DATABASE_URL=… CPER_VAR_DIR=… python -m tests.backup.seed contracts/….yaml
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def run(contract_file: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    import django

    django.setup()
    # Django's commands and settings are usable only once it is set up.
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("geo", "load")
    call_command("contract", "load", contract_file)
    call_command("demo", "--scale", "S", "--operations", "120")
    # What a page upload leaves for its confirmation (cper.io.views): a file under MEDIA_ROOT.
    upload = Path(settings.MEDIA_ROOT) / "imports" / "depot-operations.csv"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_bytes("N° d'opération;Intitulé\r\nX-1;Médiathèque\r\n".encode())


if __name__ == "__main__":
    run(sys.argv[1])
