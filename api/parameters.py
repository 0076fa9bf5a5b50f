"""Query and path parameters read exactly as sent, or refused: run before every
/api/v1 request."""

from __future__ import annotations

import datetime as dt
import re
import typing
from typing import Any

from litestar import Litestar, Request
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import OpenAPI, OpenAPIType, Parameter, Schema

from fleetsvc import identifiers
from fleetsvc.errors import FieldProblem, ValidationFailed

# Where the app keeps query_parameters(app) and temporal_parameters(app) for
# check_parameters.
QUERY_PARAMETERS = "query_parameters"
TEMPORAL_PARAMETERS = "temporal_parameters"


def query_parameters(app: Litestar) -> dict[int, frozenset[str]]:
    """Each route handler's query parameter names (its own and its dependencies'), by the
    handler's id: what ``check_parameters`` compares a request's names with."""
    known: dict[int, frozenset[str]] = {}
    for route in app.routes:
        for handler, kwargs in getattr(route, "route_handler_map", {}).values():
            known[id(handler)] = frozenset(p.field_alias for p in kwargs.expected_query_params)
    return known


# A text parameter with no rule of its own still takes no NUL (check_parameters).
NO_NUL = "^[^\\u0000]*$"


def document_parameters(openapi: OpenAPI) -> None:
    """A list filter named for an identifier (``serial``, ``imei``, ``iccid``, ``msisdn``,
    ``vrm``) is read by that identifier's normaliser: the document states its rule
    (``fleetsvc.identifiers``), so an empty or malformed one is not sent as valid. Any other
    text parameter of a query or path states that it takes no NUL."""
    for item in (openapi.paths or {}).values():
        for method in ("get", "post", "patch", "put", "delete"):
            operation = getattr(item, method, None)
            for p in getattr(operation, "parameters", None) or []:
                if not isinstance(p, Parameter) or p.schema is None:
                    continue
                if p.param_in not in ("query", "path") or not isinstance(p.schema, Schema):
                    continue
                rule = identifiers.FILTERS.get(p.name) if p.param_in == "query" else None
                for key, value in (rule or {}).items():
                    setattr(p.schema, {"maxLength": "max_length"}.get(key, key), value)
                if _is_free_text(p.schema):
                    p.schema.pattern = NO_NUL


def _is_free_text(schema: Schema) -> bool:
    """A string (or optional string) with no pattern, enum or format of its own."""
    kinds = [s.type for s in schema.one_of or [] if isinstance(s, Schema)] or [schema.type]
    if OpenAPIType.STRING not in kinds:
        return False
    own = (schema.pattern, schema.enum, schema.format, schema.const)
    inner = [(s.pattern, s.enum, s.format) for s in schema.one_of or [] if isinstance(s, Schema)]
    return all(v is None for v in own) and all(v is None for t in inner for v in t)


def temporal_parameters(app: Litestar) -> dict[int, dict[str, type]]:
    """Each route handler's date and instant query parameters (name -> ``date`` or
    ``datetime``), by the handler's id: those must be written in ISO 8601."""
    found: dict[int, dict[str, type]] = {}
    for route in app.routes:
        for handler, kwargs in getattr(route, "route_handler_map", {}).values():
            queried = {p.field_name: p.field_alias for p in kwargs.expected_query_params}
            kinds: dict[str, type] = {}
            for name, field in handler.parsed_fn_signature.parameters.items():
                if name not in queried:
                    continue
                types = set(typing.get_args(field.annotation)) or {field.annotation}
                if dt.datetime in types:
                    kinds[queried[name]] = dt.datetime
                elif dt.date in types:
                    kinds[queried[name]] = dt.date
            if kinds:
                found[id(handler)] = kinds
    return found


# ISO 8601 as the API reads it: a calendar date, and for an instant a time with seconds
# (a fraction allowed) and an offset or Z. Without this, a number would be read as seconds
# since 1970 (``until=0.5``).
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_ISO_HINT = {
    dt.date: "must be an ISO 8601 date, such as 2026-12-03",
    dt.datetime: "must be an ISO 8601 date and time with its offset, such as 2026-12-03T09:30:00Z",
}


def _is_iso(value: str, kind: type) -> bool:
    pattern = _ISO_INSTANT if kind is dt.datetime else _ISO_DATE
    if not pattern.fullmatch(value):
        return False
    try:
        # A real calendar day and time (no 13th month, no 25 o'clock).
        dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_temporal(request: Request[Any, Any, Any]) -> None:
    kinds = request.app.state.get(TEMPORAL_PARAMETERS, {}).get(id(request.route_handler))
    if not kinds:
        return
    problems = []
    for name, kind in kinds.items():
        value = request.query_params.get(name)
        if value is None:
            continue
        if not _is_iso(value, kind):
            problems.append(FieldProblem(name, _ISO_HINT[kind]))
    if problems:
        raise ValidationFailed(problems)


_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_ASCII_INTEGER = re.compile(r"-?[0-9]+")
# What int() accepts in an ASCII path segment besides digits and a minus sign.
_LOOSE_INT_CHARACTERS = re.compile(r"[\s+_]")


async def check_parameters(request: Request[Any, Any, Any]) -> None:
    """Read query and path parameters exactly as sent, or refuse them (every /api/v1 route).

    A NUL in a query or path parameter is a 422 naming it (PostgreSQL cannot store NUL).
    No parameter of this API takes a list: a repeated one is a 422, not its last value.
    A query parameter the route does not take is a 422 naming it and the ones it does take:
    ignored, a mistyped filter (``?stauts=deployed``) would answer with the whole list.
    """
    # This runs before every request: the usual ones (no query string, a path of plain
    # ASCII ids) take the cheap tests only.
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValidationFailed.one(name, "must not contain a NUL character")
    path = request.scope["path"]
    if not path.isascii() or _LOOSE_INT_CHARACTERS.search(path):
        refuse_loose_path_ids(request)
    if not request.scope.get("query_string"):
        return
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise ValidationFailed.one(name.replace("\x00", ""), "must not contain a NUL character")
        if name in seen:
            raise ValidationFailed.one(name, "is given more than once")
        seen.add(name)
    known = request.app.state.get(QUERY_PARAMETERS, {}).get(id(request.route_handler))
    if known is None:
        return
    unknown = sorted(name for name in seen if name not in known)
    if unknown:
        takes = ", ".join(sorted(known)) or "no query parameters"
        raise ValidationFailed(
            [
                FieldProblem(name, f"this route does not take {name}; it takes: {takes}")
                for name in unknown
            ]
        )
    _check_temporal(request)


def refuse_loose_path_ids(request: Request[Any, Any, Any]) -> None:
    """An id in a path is ASCII digits; anything else matches no route (404).

    Litestar reads ``{id:int}`` with ``int()``, which also takes ``1_0`` (as 10), other
    scripts' digits (``١``, ``１``) and surrounding spaces: each would answer with a
    record the client did not name.
    """
    template = str(request.scope.get("path_template") or "").rstrip("/").split("/")
    path = request.scope["path"].rstrip("/").split("/")
    if len(template) != len(path):
        return
    for part, segment in zip(template, path, strict=True):
        name = _PATH_PARAMETER.fullmatch(part)
        if (
            name
            and isinstance(request.path_params.get(name[1]), int)
            and not _ASCII_INTEGER.fullmatch(segment)
        ):
            raise NotFoundException()
