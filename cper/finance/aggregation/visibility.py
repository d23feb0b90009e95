"""What the public may see of the execution figures: the one rule, applied by the service itself.

A viewer who may not see the operations that are not published (the public and anonymous
visitors: `cper.accounts.permissions.sees_unpublished` is false) gets every figure computed as
if those operations did not exist. They count in no amount, no row, no total, no monthly series
and no pace; the `operation` filter never resolves one (its code or id selects nothing) and no
row is keyed or labelled by one. The maquette is public and stays whole. Whatever the
combination of filters, groupings and dates, the public's figures are those of the published
operations alone, so nothing in them moves when an unpublished operation's amounts change.

Why leaving them out rather than suppressing small cells: a suppressed cell is recovered by
difference (a total minus the other rows, the same question with and without a filter, two dates)
and the rule would have to follow every combination of faces; leaving the operations out has
no such hole, and authorised users' figures are untouched.

The service takes the viewer as `viewer=` (`execution`, `execution_series`, `pace`). A face that
answers a person passes that person (`request.user`; None or an anonymous user is the public).
The default, `UNRESTRICTED`, is the operator's view — every operation — for the commands run on
the server, the consistency checks, the ledger rules and the bench.
"""

from __future__ import annotations

from typing import Any, Final

from cper.accounts.permissions import sees_unpublished


class _Unrestricted:
    """The viewer of the server's own work: sees every operation."""

    def __repr__(self) -> str:
        return "UNRESTRICTED"


UNRESTRICTED: Final[Any] = _Unrestricted()


def hides_unpublished(viewer: Any) -> bool:
    """Whether the figures shown to `viewer` leave out the operations that are not published."""
    return viewer is not UNRESTRICTED and not sees_unpublished(viewer)
