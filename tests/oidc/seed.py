"""The ProConnect browser test's pick in its database (a copy of the browser tests' one, as
`tests.browser.seed` prepares it): one line on stdout, as JSON, an operation that has an active
line of the Département du Nord and an active line of another financer.

    DATABASE_URL=sqlite:///…/cper.sqlite3 python -m tests.oidc.seed
"""

from __future__ import annotations

import json
import os


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cper.settings")
    import django

    django.setup()
    # The models are importable only once Django is set up.
    from cper.operations.models import FinancingLine, LineStatus

    active = FinancingLine.objects.filter(status=LineStatus.ACTIVE)
    nord = active.filter(partner__code="dep-59").order_by("pk")
    for line in nord.iterator():
        other = active.filter(operation_id=line.operation_id).exclude(partner__code="dep-59")
        other_line = other.order_by("pk").first()
        if other_line is not None:
            print(
                json.dumps(
                    {
                        "operation": line.operation_id,
                        "nord_line": line.pk,
                        "other_line": other_line.pk,
                    }
                )
            )
            return
    raise SystemExit("aucune opération avec une ligne du Nord et une autre ligne")


if __name__ == "__main__":
    main()
