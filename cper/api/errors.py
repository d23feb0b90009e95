"""One error body for every failure: `{"code": …, "message": "<français>", "field": …}`.

The handlers below turn every exception a request can raise — ninja's validation of the input,
Django's ValidationError / PermissionDenied / Http404, the database's IntegrityError and
DataError (a French 422 naming the field when it can be told, never the database's text), the
domain services' errors — into that body with the right status, so no input ever yields a 500 (the
catch-all still answers in the same shape if a bug slips through, and logs it).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from cper.money import MoneyError

logger = logging.getLogger("cper.api")


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


# Statuses every operation may answer with the error body (documented on each operation).
ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 422, 429})


class ApiError(Exception):
    """An error the API answers with as is."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def not_found(message: str = "Ressource introuvable.") -> ApiError:
    return ApiError(404, "introuvable", message)


def error_response(
    api: NinjaAPI, request: HttpRequest, status: int, code: str, message: str, field: Any = None
) -> HttpResponse:
    message = message[:1].upper() + message[1:]  # the services' messages start in lower case
    body = {"code": code, "message": message, "field": None if field is None else str(field)}
    return api.create_response(request, body, status=status)


# French messages for pydantic's error types (the rest fall back to a generic message).
_PYDANTIC_MESSAGES = {
    "missing": "Valeur obligatoire manquante.",
    "string_too_long": "Texte trop long.",
    "string_too_short": "Texte trop court.",
    "string_pattern_mismatch": "Format invalide.",
    "int_parsing": "Nombre entier attendu.",
    "int_type": "Nombre entier attendu.",
    "greater_than_equal": "Valeur trop petite.",
    "greater_than": "Valeur trop petite.",
    "less_than_equal": "Valeur trop grande.",
    "less_than": "Valeur trop grande.",
    "date_parsing": "Date attendue au format AAAA-MM-JJ.",
    "date_from_datetime_parsing": "Date attendue au format AAAA-MM-JJ.",
    "date_type": "Date attendue au format AAAA-MM-JJ.",
    "bool_parsing": "Booléen attendu (true ou false).",
    "bool_type": "Booléen attendu (true ou false).",
    "enum": "Valeur non prévue.",
    "literal_error": "Valeur non prévue.",
    "string_type": "Texte attendu.",
    "list_type": "Liste attendue.",
    "dict_type": "Objet JSON attendu.",
    "model_type": "Objet JSON attendu.",
    "model_attributes_type": "Objet JSON attendu.",
    "extra_forbidden": "Champ non prévu.",
    "json_invalid": "JSON invalide.",
    "decimal_parsing": "Montant attendu.",
}

# Sources of ninja's error locations that are part of the URL: their errors are a bad request.
_URL_SOURCES = {"query", "path", "header", "cookie"}


def _field_path(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str | None]:
    """('body', 'payload', 'lines', 0, 'amount') → ('body', 'lines.0.amount')."""
    parts = [str(p) for p in loc]
    source = parts[0] if parts else "body"
    rest = parts[1:]
    if source == "body" and len(rest) > 1:
        rest = rest[1:]  # drop the name of the view's body argument
    elif source == "body" and len(rest) == 1:
        rest = [] if rest[0] in {"payload", "data", "body"} else rest
    elif len(rest) > 1 and not rest[1].isdigit():
        rest = rest[1:]  # drop the name of the view's schema argument (`q: Query[Filters]`)
    return source, ".".join(rest) or None


def _ninja_validation(api: NinjaAPI, request: HttpRequest, exc: NinjaValidationError) -> Any:
    first = exc.errors[0] if exc.errors else {}
    source, field = _field_path(first.get("loc", ()))
    message = first.get("msg", "")
    error_type = str(first.get("type", ""))
    if error_type == "value_error" and message.startswith("Value error, "):
        # Our own validators raise ValueError with a French message.
        message = message.removeprefix("Value error, ")
    else:
        message = _PYDANTIC_MESSAGES.get(error_type, "Valeur invalide.")
    if source in _URL_SOURCES:
        return error_response(api, request, 400, "parametre_invalide", message, field)
    return error_response(api, request, 422, "donnees_invalides", message, field)


def _django_validation(api: NinjaAPI, request: HttpRequest, exc: DjangoValidationError) -> Any:
    field = None
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        message = " ".join(str(m) for e in errors for m in e.messages)
        if field == "__all__":
            field = None
    else:
        message = " ".join(exc.messages)
    code = getattr(exc, "code", None) or "donnees_invalides"
    return error_response(api, request, 422, str(code), message or "Données invalides.", field)


def _permission_denied(api: NinjaAPI, request: HttpRequest, exc: Exception) -> Any:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return error_response(
            api,
            request,
            401,
            "authentification_requise",
            "Authentification requise : envoyez un jeton d'API (Authorization: Bearer …).",
        )
    detail = str(exc) or "Vous n'avez pas le droit de faire cette action."
    return error_response(api, request, 403, "interdit", detail)


def _http_error(api: NinjaAPI, request: HttpRequest, exc: HttpError) -> Any:
    if isinstance(exc, Throttled):
        return error_response(
            api,
            request,
            429,
            "trop_de_requetes",
            "Trop de requêtes : attendez avant de réessayer (voir Retry-After).",
        )
    if isinstance(exc, AuthenticationError):
        message = exc.message if exc.message != "Unauthorized" else "Jeton d'API invalide."
        return error_response(api, request, 401, "jeton_invalide", message)
    if exc.status_code == 400:  # ninja: a body that is not JSON
        return error_response(
            api, request, 400, "requete_invalide", "Corps de requête illisible (JSON attendu)."
        )
    return error_response(api, request, exc.status_code, "erreur", str(exc))


# What the database said, read for the column it names (never shown: its text is English, and
# may carry values). PostgreSQL names it in its diagnostics or in "Key (a, b)=(…)"; SQLite in
# "UNIQUE constraint failed: table.a, table.b" / "NOT NULL constraint failed: table.a".
_PG_KEY = re.compile(r"Key \(([^)]*)\)=")
_SQLITE_COLUMNS = re.compile(r"constraint failed: ([\w., ]+)")


def _column_of(exc: Exception) -> str | None:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    columns: list[str] = []
    if diag is not None:
        if getattr(diag, "column_name", None):
            columns = [diag.column_name]
        elif match := _PG_KEY.search(getattr(diag, "message_detail", None) or ""):
            columns = [c.strip() for c in match.group(1).split(",")]
    elif match := _SQLITE_COLUMNS.search(str(cause or exc)):
        columns = [c.strip().rsplit(".", 1)[-1] for c in match.group(1).split(",")]
    # A uniqueness within a contract names the contract first: the field is the last column.
    names = [c.removesuffix("_id") for c in columns if c]
    names = [n for n in names if n != "contract"] or names
    return names[-1] if names else None


def _text_field(request: HttpRequest, bad: Any) -> str | None:
    """The first field of the JSON body whose text the database cannot store (`bad(text)`)."""
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None

    def walk(value: Any, path: list[str]) -> str | None:
        if isinstance(value, str):
            return ".".join(path) if bad(value) and path else None
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            return None
        for key, item in items:
            found = walk(item, [*path, str(key)])
            if found:
                return found
        return None

    return walk(body, [])


def _database_error(api: NinjaAPI, request: HttpRequest, exc: Exception) -> Any:
    """A write the database refused (a value it cannot store, a duplicate, a missing or
    dangling reference): a French 422 naming the field when it can be told, never the
    database's own text (logged instead)."""
    logger.warning("API: database refused %s %s: %s", request.method, request.path, exc)
    raw = str(exc.__cause__ or exc).lower()
    field = _column_of(exc)
    if isinstance(exc, DataError):
        if "nul" in raw or "0x00" in raw:
            field = field or _text_field(request, lambda t: "\x00" in t)
            message = "Le caractère nul (U+0000) ne peut pas être enregistré."
        elif "too long" in raw:
            message = "Texte trop long pour être enregistré."
        elif "out of range" in raw or "overflow" in raw:
            message = "Valeur hors des bornes acceptées."
        else:
            message = "Valeur refusée : elle ne peut pas être enregistrée."
        return error_response(api, request, 422, "valeur_invalide", message, field)
    if "unique" in raw or "duplicate" in raw:
        message = "Cette valeur est déjà utilisée : l'écriture ferait un doublon."
        code = "doublon"
    elif "null" in raw:
        message = "Valeur obligatoire manquante."
        code = "donnees_invalides"
    elif "foreign key" in raw:
        message = "La donnée citée n'existe pas ou plus."
        code = "inconnu"
    else:
        message = "L'écriture contredit une règle de cohérence des données."
        code = "donnees_invalides"
    return error_response(api, request, 422, code, message, field)


def _unexpected(api: NinjaAPI, request: HttpRequest, exc: Exception) -> Any:
    logger.exception("API: unexpected error on %s %s", request.method, request.path)
    return error_response(
        api, request, 500, "erreur_interne", "Erreur interne ; elle a été journalisée."
    )


def install_error_handlers(api: NinjaAPI) -> None:
    def add(exc_class: type[Exception], handler: Any) -> None:
        api.add_exception_handler(exc_class, lambda request, exc: handler(api, request, exc))

    def api_error(api: NinjaAPI, request: HttpRequest, exc: ApiError) -> HttpResponse:
        response = error_response(api, request, exc.status, exc.code, exc.message, exc.field)
        for name, value in exc.headers.items():
            response[name] = value
        return response

    add(ApiError, api_error)
    add(NinjaValidationError, _ninja_validation)
    add(DjangoValidationError, _django_validation)
    add(PermissionDenied, _permission_denied)
    add(HttpError, _http_error)
    add(
        Http404,
        lambda api, request, exc: error_response(
            api, request, 404, "introuvable", "Ressource introuvable."
        ),
    )
    add(
        ObjectDoesNotExist,
        lambda api, request, exc: error_response(
            api, request, 404, "introuvable", "Ressource introuvable."
        ),
    )
    add(IntegrityError, lambda api, request, exc: _database_error(api, request, exc))
    add(DataError, lambda api, request, exc: _database_error(api, request, exc))
    add(
        MoneyError,
        lambda api, request, exc: error_response(
            api, request, 422, "montant_invalide", f"Montant invalide : {exc}."
        ),
    )
    add(Exception, _unexpected)
