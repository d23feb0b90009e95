"""No input gives a server error (issue 15, item 6): every page and export of the site, and every
read of the API, is asked with hostile values in each query parameter it reads — a NUL
character, year 1, year 9999, 10 000 characters — as an anonymous visitor and as an
administrator; each answers (200, a 400 with a French message, a 404…), never a 500.

The parameters a page reads are found by watching its reads of the query string on a plain
request (plus the filters every export and list shares); the API's, in its OpenAPI document.
A page is given each value in all its parameters at once, then in fewer as its answers require
(`_Page.failures`): a failing parameter is still named alone.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from cper.accounts.models import Role
from cper.api.main import api
from cper.params import DATE_MAX, DATE_MIN, check_query, parse_date
from tests.api.conftest import client_for, make_user
from tests.conftest import HDF_SLUG
from tests.finance import factories as f

pytestmark = pytest.mark.django_db

HOSTILE = ("a\x00b", "0001-01-01", "9999-12-31", "x" * 10_000)
# Read through `request.GET.lists()` by some views (exports), so not seen by the watch below.
SHARED = ("q", "partner", "date", "as_of", "operation", "status", "by", "page", "order")
SKIPPED = ("admin/", "api/", "deconnexion/", "proconnect/", "sante")
# The 400 page of a refused parameter names it (cper.params.bad_parameter_response).
REFUSED = re.compile(r"Paramètre « ([^»<]+) » refusé")


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(hdf):
    """A published, programmed operation with a committed line (so that the pages of an
    operation, a line, a partner… exist)."""
    op = f.operation(hdf, code="F-HOSTILE")
    op.published = True
    op.save(update_fields=["published"])
    line = f.line(op, "etat", "100000.00")
    f.record(line, "commitment", dt.date(2023, 1, 10), "50000.00")
    territory = hdf.territories.select_related("territory").first()
    return {
        "op": op,
        "line": line,
        "territory": territory.territory.code if territory else "x",
        "epci": op.epci_id or "200093201",
    }


def _patterns(resolver: URLResolver, prefix: str = "", ns: str = "") -> Iterator[tuple[str, str]]:
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _patterns(p, route, p.namespace or ns)
        elif isinstance(p, URLPattern):
            yield f"{ns}:{p.name}" if ns else (p.name or ""), route


def _fill(name: str, route: str, world: dict[str, Any]) -> list[str]:
    if route.startswith(SKIPPED) or route.startswith("^"):
        return []
    values = {
        "slug": HDF_SLUG,
        "pk": str(world["op"].pk),
        "line_pk": str(world["line"].pk),
        "number": "1",
        "code": "59",
        "siren": world["epci"],
        "token_id": "1",
    }
    if name.endswith(("objective",)):
        values["code"] = "2.2"
    elif name.endswith("partner"):
        values["code"] = "etat"
    elif name.endswith("project_territory"):
        values["code"] = world["territory"]
    urls = []
    for kind, fmt in (("operations", "csv"), ("execution", "csv"), ("movements", "xlsx")):
        url = re.sub(r"<(?:\w+:)?kind>", kind, route)
        url = re.sub(r"<(?:\w+:)?fmt>", fmt, url)
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), url)
        urls.append("/" + url)
        if url == route:
            break
    return sorted(set(urls))


class _Watch:
    """The names a view reads from a query string (get, getlist, [], in)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: set[str] = set()
        for method in ("get", "getlist", "__getitem__", "__contains__"):
            original = getattr(QueryDict, method)
            monkeypatch.setattr(QueryDict, method, self._wrap(original))

    def _wrap(self, original: Any) -> Any:
        watch = self

        def wrapped(self: Any, key: Any, *args: Any) -> Any:
            if isinstance(key, str):
                watch.names.add(key)
            return original(self, key, *args)

        return wrapped


def _outcome(response: Any) -> tuple[int, str]:
    """A response's status and, for a redirect, where to (without the query: a sign-in page
    names the page asked for, parameters included, in its `next`)."""
    return response.status_code, urlsplit(response.get("Location", "")).path


class _Page:
    """One URL under test: how it answers without parameters and the names it reads then."""

    def __init__(self, client: Client, url: str, watch: _Watch) -> None:
        self.client, self.url, self.watch = client, url, watch
        watch.names.clear()
        plain = client.get(url)
        self.plain, self.reads = _outcome(plain), set(watch.names)

    def failures(self, params: list[str], value: str) -> list[str]:
        """The parameters of `params` that make the page answer a server error when given
        `value`, in far fewer requests than one per parameter: most pages read most values to
        a full render, which is what costs.

        All of them are sent at once. A 200: the page read every parameter it read with the
        hostile value and came to its end; those it reads by default but did not read this
        time (another value may have turned it aside) are sent again. A 400 naming one of them
        (cper.params): that one is refused, the others are sent again without it. The
        plain page's own answer other than a 200 (a redirect to sign in, a 403, the 404 of a
        missing object): the parameters changed nothing. Anything else — a server error, a 404
        that may come before some were read — is split in two until each parameter is alone."""
        self.watch.names.clear()
        response = self.client.get(self.url, dict.fromkeys(params, value))
        status = response.status_code
        if status == 200:
            read = self.watch.names & set(params)
            turned_aside = [p for p in params if p in self.reads and p not in read]
            if len(turned_aside) < len(params):
                return self.failures(turned_aside, value) if turned_aside else []
        elif _outcome(response) == self.plain:
            return []
        elif status == 400:
            named = REFUSED.search(response.content.decode(errors="replace"))
            if named and named.group(1) in params:
                rest = [p for p in params if p != named.group(1)]
                return self.failures(rest, value) if rest else []
        if len(params) == 1:
            return [f"{self.url}?{params[0]}={value[:12]!r} → {status}"] if status >= 500 else []
        half = len(params) // 2
        return self.failures(params[:half], value) + self.failures(params[half:], value)


def _site_failures(client: Client, world: dict[str, Any], monkeypatch: Any) -> list[str]:
    watch = _Watch(monkeypatch)
    client.raise_request_exception = False  # a 500 is counted, not raised
    failures = []
    for name, route in _patterns(get_resolver()):
        for url in _fill(name, route, world):
            page = _Page(client, url, watch)
            if page.plain[0] >= 500:
                failures.append(f"{url} (plain) → {page.plain[0]}")
                continue
            params = sorted((page.reads | set(SHARED)) - {"csrfmiddlewaretoken"})
            for value in HOSTILE:
                failures += page.failures(params, value)
    return failures


def test_no_page_or_export_fails_on_hostile_query_values_anonymous(client, world, monkeypatch):
    failures = _site_failures(client, world, monkeypatch)
    assert not failures, "\n".join(failures)


def test_no_page_or_export_fails_on_hostile_query_values_admin(client, world, monkeypatch):
    admin = make_user(role=Role.ADMINISTRATOR, is_staff=True, is_superuser=True)
    client.force_login(admin)
    failures = _site_failures(client, world, monkeypatch)
    assert not failures, "\n".join(failures)


def _api_gets(world: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    schema = api.get_openapi_schema()
    values = {
        "slug": HDF_SLUG,
        "operation_id": str(world["op"].pk),
        "line_id": str(world["line"].pk),
        "committee_id": "1",
        "number": "1",
        "code": "2.2",
    }
    for path, item in schema["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)
        names = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
        yield url, names


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_no_api_read_fails_on_hostile_query_values(hdf, world, who, settings):
    # Hundreds of requests in a minute: under the default limits most would be answered 429
    # before any parameter is read.
    settings.CPER_API_RATE_ANONYMOUS = settings.CPER_API_RATE_TOKEN = "100000/min"
    client = client_for(make_user(role=Role.ADMINISTRATOR)) if who == "admin" else None
    if client is not None:
        client.client.raise_request_exception = False
    anonymous = Client(raise_request_exception=False)
    failures = []
    for url, names in _api_gets(world):
        for param in names:
            for value in HOSTILE:
                response = (client or anonymous).get(url, {param: value})
                if response.status_code >= 500:
                    failures.append(f"{url}?{param}={value[:12]!r} → {response.status_code}")
                elif response.status_code in (400, 422):
                    body = response.json()
                    assert body["message"] and body["code"], (url, param, body)
    assert not failures, "\n".join(failures)


def test_the_api_refuses_extreme_dates_naming_the_field(hdf, world):
    url = f"/api/v1/contracts/{HDF_SLUG}/execution"
    for value in ("0001-01-01", "9999-12-31"):
        response = Client().get(url, {"as_of": value})
        assert response.status_code == 400
        assert response.json()["field"] == "as_of"
        assert "bornes" in response.json()["message"]
    assert Client().get(url, {"as_of": "1950-01-01"}).status_code == 200  # empty figures


def test_pages_refuse_extreme_dates_and_nul_with_a_french_message(client, world):
    dashboard = f"/contrats/{HDF_SLUG}/tableau-de-bord/"
    for params in ({"date": "0001-01-01"}, {"date": "9999-12-31"}, {"q": "\x00"}):
        response = client.get(dashboard, params)
        assert response.status_code == 400
        assert "refusé" in response.content.decode()
    listing = f"/contrats/{HDF_SLUG}/operations/"
    response = client.get(listing, {"q": "\x00"})
    assert response.status_code == 400 and "caractère nul" in response.content.decode()
    assert client.get(dashboard, {"date": "1950-01-01"}).status_code == 200


def test_the_bounds_and_the_checks():
    assert parse_date("date", DATE_MIN.isoformat()) == DATE_MIN
    assert parse_date("date", DATE_MAX.isoformat()) == DATE_MAX
    for raw in ("0001-01-01", "9999-12-31", "2024-13-01", "\x00"):
        with pytest.raises(ValueError):
            parse_date("date", raw)
    request = type("R", (), {"GET": QueryDict("q=%00")})()
    with pytest.raises(ValueError):
        check_query(request)  # type: ignore[arg-type]
