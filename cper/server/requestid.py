"""The request id: read from the reverse proxy's X-Request-ID (or made here), put on the
response and on every log record written while the request is served; plus one access-log line
per request (logger `cper.requests`).

A context variable rather than a thread-local: it follows the request through threads of a
gthread worker and through async code alike.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# A proxy's id is kept only if it looks like one: it goes into logs and a response header.
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("cper.requests")


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: everything after it logs with the request's id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        rid = given if _VALID.match(given) else new_request_id()
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[HEADER] = rid
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request: commands, the worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True
