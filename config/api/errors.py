"""Domain errors and the one place where every error becomes an HTTP answer.

Services raise the domain errors below; views never build error responses by hand. Every error body is JSON:
`{"detail": "..."}`, or for validation `{"detail": [{"loc", "msg", "type", ...}]}` (the HTTPValidationError
shape of the contract), with status 422 for any invalid input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)


def without_secrets(text: str) -> str:
    """`text` with the operator's provider keys blanked out: a provider's error message may quote the key it
    refused, and such messages reach tenants (a 502's detail, an async add's status). A "key" under 8
    characters (a placeholder such as `ollama`) is no secret, and blanking it would garble the message."""
    from django.conf import settings

    for secret in (settings.LLM_API_KEY, settings.EMBEDDER_API_KEY):
        if secret and len(secret) >= 8 and secret in text:
            text = text.replace(secret, "***")
    return text


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail="Bad request", **extra):
        if isinstance(detail, str):
            detail = without_secrets(detail)
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def body(self) -> dict:
        return {"detail": self.detail, **self.extra}


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """409; `extra` carries machine-readable fields such as `errorName`."""

    status_code = 409


class InvalidInput(DomainError):
    """422 with one or more pydantic-style entries: (loc, msg, type)."""

    status_code = 422

    def __init__(self, errors: list[dict]):
        super().__init__(errors)

    @classmethod
    def at(cls, loc: list, msg: str, type_: str = "value_error", **extra) -> InvalidInput:
        return cls([{"loc": list(loc), "msg": msg, "type": type_, **extra}])


class BadRequest(DomainError):
    status_code = 400


class UpstreamFailed(DomainError):
    """502: a provider we depend on (LLM, embedder) failed; nothing was written."""

    status_code = 502


class ServiceUnavailable(DomainError):
    status_code = 503


# What passes without a change to the request: a provider outage, or a service waiting on its operator (an
# embedder awaiting `reembed`). Background work retries these with backoff; anything else is a bug.
RETRYABLE = (UpstreamFailed, ServiceUnavailable)


# DRF error codes -> pydantic-style error types, so clients see one vocabulary.
_TYPE_BY_CODE = {
    "required": "missing",
    "null": "none_forbidden",
    "blank": "string_too_short",
    "max_length": "string_too_long",
    "min_length": "string_too_short",
    "max_value": "less_than_equal",
    "min_value": "greater_than_equal",
    "invalid_choice": "enum",
    "not_a_list": "list_type",
    "not_a_dict": "dict_type",
    "empty": "too_short",
    "max_items": "too_long",
    "min_items": "too_short",
    "unknown_field": "extra_forbidden",
}


_LIST_CODES = {"max_length": "max_items", "min_length": "min_items"}


def validation_entries(errors, loc: list) -> list[dict]:
    """Flatten DRF's nested error structure into [{"loc", "msg", "type"}]."""
    if isinstance(errors, dict):
        entries = []
        for key, value in errors.items():
            sub = loc if key == api_settings.NON_FIELD_ERRORS_KEY else [*loc, key]
            entries.extend(validation_entries(value, sub))
        return entries
    if isinstance(errors, list):
        if errors and all(isinstance(e, (str, drf.ErrorDetail)) for e in errors):
            return [_entry(e, loc) for e in errors]
        entries = []
        for index, value in enumerate(errors):
            if value:  # DRF puts {} for list items that were valid
                entries.extend(validation_entries(value, [*loc, index]))
        return entries
    return [_entry(errors, loc)]


def _entry(error, loc: list) -> dict:
    code = getattr(error, "code", "invalid")
    if code in _LIST_CODES and str(error).endswith(" elements."):
        # DRF reports a list's length (ListField, many=True) with a string's codes; only its message, which
        # counts elements, tells them apart. A list's are pydantic's too_long / too_short.
        code = _LIST_CODES[code]
    return {"loc": loc, "msg": str(error), "type": _TYPE_BY_CODE.get(code, code or "value_error")}


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: map every error to the contract's JSON shapes."""
    if isinstance(exc, DomainError):
        return Response(exc.body(), status=exc.status_code)
    if isinstance(exc, drf.ValidationError):
        return Response({"detail": validation_entries(exc.detail, ["body"])}, status=422)
    if isinstance(exc, drf.ParseError):
        return Response({"detail": [{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}]},
                        status=422)
    if isinstance(exc, drf.UnsupportedMediaType):
        return Response({"detail": [{"loc": ["body"], "msg": str(exc.detail), "type": "model_attributes_type"}]},
                        status=422)
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return Response({"detail": str(exc.detail)}, status=401,
                        headers={"WWW-Authenticate": 'Token realm="api"'})
    if isinstance(exc, (Http404, drf.NotFound)):
        return Response({"detail": "Not found"}, status=404)
    if isinstance(exc, (PermissionDenied, drf.PermissionDenied)):
        return Response({"detail": "Not found"}, status=404)  # never leak existence
    if isinstance(exc, drf.APIException):
        return Response({"detail": str(exc.detail)}, status=exc.status_code,
                        headers=_retry_after(exc))
    if isinstance(exc, DatabaseError):
        return _database_error(exc, context["request"])
    return None  # a real bug: let Django log it and answer 500 (JSON, see config.views.server_error)


def _retry_after(exc) -> dict:
    wait = getattr(exc, "wait", None)
    return {"Retry-After": str(int(wait) + 1)} if wait else {}


def _database_error(exc: DatabaseError, request) -> Response | None:
    """The answer to a database error, by its cause (`database_fault`); None for a bug (a 500)."""
    fault = database_fault(exc)
    if fault is None:
        return None
    logger.warning("%s: %s", fault.message, exc)
    if fault.status == 422:
        loc = ["query"] if request.method in ("GET", "HEAD", "OPTIONS") else ["body"]
        return Response({"detail": [{"loc": loc, "msg": fault.message, "type": fault.entry_type}]}, status=422)
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
    return Response({"detail": fault.message}, status=fault.status, headers=headers)


@dataclass(frozen=True)
class DatabaseFault:
    """A database error's cause, as the API answers it and background work treats it alike (`database_fault`):
    a 422 is the request's own data, which no retry helps; a 503 is the database's state, with `retry_after`
    (seconds) when it passes."""

    status: int
    message: str
    entry_type: str = "value_error"  # a 422's validation entry type
    retry_after: int | None = None


def database_fault(exc: BaseException) -> DatabaseFault | None:
    """The cause of a database error, by its SQLSTATE (PostgreSQL's Appendix A); None for anything else (a bug):
    - the request's own data, which the same request sends again: a 422 (no retry helps). A data exception
      (class 22, and psycopg's own DataError, e.g. a NUL in a text) or a program limit (class 54: a tsvector over
      1 MB, an index row over 2.7 kB, a jsonb over 256 MB, too many arguments);
    - the statement stopped (57014: statement_timeout, or an operator's cancel): a 503 without Retry-After, as
      the same request may well take as long again;
    - the database gone, full or failing over (an OperationalError or InterfaceError, among them too many
      connections, a shutdown, a deadlock; and a read-only transaction, 25006, on a standby): 503 with
      Retry-After, as it passes."""
    from django.db import DataError, InterfaceError, OperationalError

    if not isinstance(exc, DatabaseError):
        return None
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    if sqlstate.startswith("54"):
        return DatabaseFault(422, "The request's data is over one of the database's limits (on a text, a list or "
                                  "a JSON value)", entry_type="too_long")
    if isinstance(exc, DataError):
        return DatabaseFault(422, "The database cannot take a value of the request")
    if sqlstate == "57014":
        return DatabaseFault(503, "The database stopped this request's statement (a statement timeout or an "
                                  "operator's cancel)")
    if isinstance(exc, (OperationalError, InterfaceError)) or sqlstate == "25006":
        return DatabaseFault(503, "Service temporarily unavailable: the database does not answer", retry_after=5)
    return None


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` is the database's state rather than the work's (a 503 of `database_fault`): gone, failing
    over, or a statement it stopped. It passes: background work retries it as a provider outage."""
    fault = database_fault(exc)
    return fault is not None and fault.status == 503
