"""The ProConnect browser test's database: the browser tests' one (`tests.browser.seed`), then
one line on stdout, as JSON: an operation that has an active line of the Département du Nord
and an active line of another financer.

    DATABASE_URL=sqlite:///…/cper.sqlite3 python -m tests.oidc.seed contracts/….yaml
"""

from __future__ import annotations

import json
import sys

from tests.browser.seed import run


def main(contract_file: str) -> None:
    run(contract_file)
    # Django is set up by `run`; its models are importable only now.
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
    main(sys.argv[1])
