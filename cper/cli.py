"""The `cper` console script: a thin front to Django's management commands.

`cper contract load FILE` is `manage.py contract load FILE`; `cper --help` lists every command.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        args = ["help"]
    execute_from_command_line(["cper", *args])


if __name__ == "__main__":
    main()
