"""Request parts every controller shares: the caller, pagination, ETags."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Litestar, Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, SerializationException
from litestar.openapi.spec import OpenAPIType, Operation, Parameter, Schema
from litestar.params import QueryParameter, SkipValidation

from fleetsvc.auth import Actor
from fleetsvc.errors import BadRequest, FieldProblem, ValidationFailed
from fleetsvc.pagination import MAX_LIMIT, Page, PageRequest, page_request
from fleetsvc.records import MAX_ID

T = TypeVar("T")

# Built by our own providers, so Litestar need not validate them again.
# A record id in a body or a query string: outside the database's range is a 422.
RecordId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
RecordIdQuery = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]

ActorDep = NamedDependency[SkipValidation[Actor]]
PageDep = NamedDependency[SkipValidation[PageRequest]]


class PageOf(msgspec.Struct, Generic[T]):
    """A page of a list: pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None


def page_of(page: Page[Any], convert: Any = None) -> PageOf[Any]:
    items = page.items if convert is None else [convert(i) for i in page.items]
    return PageOf(items=items, next_cursor=page.next_cursor)


async def provide_page(
    limit: Annotated[
        int | None,
        # Documented only: page_request checks it, with the message clients see.
        QueryParameter(
            description="1–1000, default 100", schema_extra={"minimum": 1, "maximum": MAX_LIMIT}
        ),
    ] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="next_cursor of the previous page")
    ] = None,
) -> PageRequest:
    return page_request(limit, cursor)


class FleetRequest(Request[Any, Any, Any]):
    """Litestar's request, with a JSON body nested too deeply for the decoder named as such."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            # msgspec stops at Python's recursion limit; no body of this API nests deeply.
            raise SerializationException("it is nested too deeply") from None


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    from api.guards import current_actor

    return current_actor(request)


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(body: Any, version: int, status_code: int = 200) -> Response[Any]:
    """A single record, with the ETag a later PATCH or transition sends as If-Match."""
    return Response(body, status_code=status_code, headers={"ETag": etag(version)})


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


@dataclass
class HonoursIfMatch(Operation):
    """The OpenAPI operation of a handler that reads ``if_match``: the header is documented
    (and ``api.errors.document_problems`` adds its 400 and 412). Use as ``operation_class``."""

    def __post_init__(self) -> None:
        header = Parameter(
            name="If-Match",
            param_in="header",
            required=False,
            schema=Schema(type=OpenAPIType.STRING),
            description='The ETag you read (like "3"); 412 if the record has changed since',
        )
        self.parameters = [*(self.parameters or []), header]


def if_match(request: Request[Any, Any, Any]) -> int | None:
    """The version the client last saw, from ``If-Match`` (None when absent)."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    # Versions are database integers: more digits than a bigint has was never an ETag of
    # ours (and Python refuses to read an integer of thousands of digits).
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadRequest('If-Match must be an ETag this service returned, for example "3"')
    return int(value)
