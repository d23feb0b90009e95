"""The rendered figures of the busiest pages, kept between requests and exact by construction.

A dashboard's figures move only when something is written, and every such write goes through a
service that appends to the audit trail in its transaction. The figures block of a page is
stored under a key made of: the page, its full query string (filters, date, anything else its
links repeat), whether the visitor sees unpublished operations (the only thing the figures vary
by), today's date (a page without `?date=` shows today) and `audit.selectors.trail_version()`.
The next request with the same key gets the stored block — two index reads and one cache read
instead of the aggregation, the alerts and the rendering of every table — and the first
request after any write builds it anew. `CPER_FIGURES_CACHE_SECONDS` (600 by default) bounds
how long a block is kept; 0 turns the cache off (the tests do, their factories write rows
without the services).

The cache is Django's (`CACHES`: a table of the database, or Redis), shared by every worker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from cper.accounts.permissions import sees_unpublished
from cper.audit.selectors import trail_version


def _seconds() -> int:
    return int(getattr(settings, "CPER_FIGURES_CACHE_SECONDS", 600))


def figures_key(request: HttpRequest, page: str) -> str | None:
    """The cache key of `page`'s figures for this request, or None when not to cache (the
    cache is off, or the request asks for an export)."""
    if _seconds() <= 0 or "export" in request.GET:
        return None
    query = sorted((k, v) for k, values in request.GET.lists() for v in values)
    parts = (
        page,
        request.path,
        repr(query),
        "all" if sees_unpublished(request.user) else "published",
        dt.date.today().isoformat(),
        repr(trail_version()),
    )
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"cper:figures:{digest}"


def cached_figures(key: str | None, build: Callable[[], str]) -> SafeString:
    """The figures block stored under `key`, else `build()`'s, stored for the next requests."""
    if key is not None:
        found = cache.get(key)
        if isinstance(found, str):
            return mark_safe(found)  # our own rendered template, stored as is
    html = build()
    if key is not None:
        cache.set(key, str(html), _seconds())
    return mark_safe(html)  # our own rendered template
