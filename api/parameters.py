"""Query and path parameters read exactly as sent, or refused: run before every
/api/v1 request."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar, Request
from litestar.exceptions import NotFoundException

from fleetsvc.errors import FieldProblem, ValidationFailed

# Where the app keeps query_parameters(app) for check_parameters.
QUERY_PARAMETERS = "query_parameters"


def query_parameters(app: Litestar) -> dict[int, frozenset[str]]:
    """Each route handler's query parameter names (its own and its dependencies'), by the
    handler's id: what ``check_parameters`` compares a request's names with."""
    known: dict[int, frozenset[str]] = {}
    for route in app.routes:
        for handler, kwargs in getattr(route, "route_handler_map", {}).values():
            known[id(handler)] = frozenset(p.field_alias for p in kwargs.expected_query_params)
    return known


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
