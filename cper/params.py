"""What the pages and exports accept in their query parameters (and path segments): text the
database can store, dates within the bounds the date arithmetic handles.

A NUL character, a control character, a text longer than any filter needs, a date before
`DATE_MIN` or after `DATE_MAX` is refused with a 400 and a French message naming the
parameter (issue 15, item 6): the database cannot store a NUL, and a date at year 1 or 9999
breaks the arithmetic of the observation date (the day before, the end of the month…). A date
inside the bounds but outside the contract is accepted: its figures are empty, as they are.

    @guard_input                      # every view of a page or an export
    def view(request, slug): …
    day = date_param(request, "date") # raises BadParameter, answered 400 by guard_input

The API applies the same bounds through its schemas (`cper.api.schemas.Date`, `Text`), and
answers 400 (query) or 422 (body) with the field named.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template import loader

logger = logging.getLogger("cper.web")

# The dates a page, an export or the API accepts: wide around any contract (figures before a
# contract starts are empty), narrow enough that a day or a month either side still exists.
DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)
# No filter of the site needs more (a search text is at most a few words; a code, 40).
MAX_LENGTH = 1000
# Control characters (tab, line feed and carriage return aside): NUL cannot be stored, the
# others have no business in a filter.
_CONTROL = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"}


class BadParameter(BadRequest, ValueError):
    """A query parameter (or path segment) refused: its name and a French message. A view
    without `guard_input` still answers 400 (Django's `BadRequest`, the site's 400 page)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name} : {message}")
        self.name, self.message = name, message


def _shown(name: str) -> str:
    return repr(name[:40]) if any(ch in _CONTROL for ch in name) else f"« {name[:40]} »"


def text_problem(value: str, *, max_length: int = MAX_LENGTH) -> str | None:
    """Why the database or a filter cannot take this text (a French message), or None."""
    if "\x00" in value:
        return "le caractère nul (U+0000) n'est pas accepté"
    if any(ch in _CONTROL for ch in value):
        return "les caractères de contrôle ne sont pas acceptés"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        return "caractère invalide"
    if len(value) > max_length:
        return f"texte trop long ({len(value)} caractères, {max_length} au plus)"
    return None


def check_text(name: str, value: str, *, max_length: int = MAX_LENGTH) -> str:
    problem = text_problem(value, max_length=max_length)
    if problem:
        raise BadParameter(name, problem)
    return value


def check_query(request: HttpRequest, kwargs: Mapping[str, Any] | None = None) -> None:
    """Every query parameter (name and values) and text path segment is storable text."""
    for name, values in request.GET.lists():
        check_text("paramètre", name, max_length=100)
        for value in values:
            check_text(name, value)
    for name, value in (kwargs or {}).items():
        if isinstance(value, str):
            check_text(name, value, max_length=200)


def date_bounds_problem(day: dt.date) -> str | None:
    if not DATE_MIN <= day <= DATE_MAX:
        return (
            f"la date {day.isoformat()} est hors des bornes acceptées "
            f"({DATE_MIN:%d/%m/%Y} – {DATE_MAX:%d/%m/%Y})"
        )
    return None


def parse_date(name: str, raw: str) -> dt.date:
    """An ISO date (AAAA-MM-JJ) within the bounds, or BadParameter naming `name`."""
    check_text(name, raw, max_length=40)
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise BadParameter(name, f"« {raw} » n'est pas une date (AAAA-MM-JJ)") from None
    problem = date_bounds_problem(day)
    if problem:
        raise BadParameter(name, problem)
    return day


def date_param(request: HttpRequest, name: str, default: dt.date | None = None) -> dt.date | None:
    """`?name=AAAA-MM-JJ` within the bounds; `default` when absent or empty."""
    raw = request.GET.get(name, "").strip()
    return parse_date(name, raw) if raw else default


def text_param(request: HttpRequest, name: str, default: str = "", *, max_length: int = 200) -> str:
    """`?name=…` as storable text of at most `max_length` characters."""
    return check_text(name, request.GET.get(name, default), max_length=max_length)


def bad_parameter_response(request: HttpRequest, exc: BadParameter) -> HttpResponse:
    """The 400 page: what was refused and why, in French (no technical detail)."""
    return refusal_response(request, f"Paramètre {_shown(exc.name)} refusé : {exc.message}.")


def refusal_response(request: HttpRequest, message: str) -> HttpResponse:
    """A 400 page carrying `message` (French), in the site's layout when it can be rendered."""
    try:
        body = loader.render_to_string(
            "web/bad_parameter.html",
            {"title": "Requête incorrecte", "message": message},
            request=request,
        )
    except Exception:  # the page needs the site's context; the message alone always works
        logger.exception("page 400 rendue sans le contexte du site")
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    return HttpResponseBadRequest(body)


def guard_input(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse with a 400 what a view could not take: unstorable text in a query parameter or
    path segment (checked before the view runs), or a `BadParameter` raised by the view."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            check_query(request, kwargs)
            return view(request, *args, **kwargs)
        except BadParameter as exc:
            return bad_parameter_response(request, exc)

    return wrapped
