"""Request parts every controller shares: the caller, pagination, ETags."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.params import QueryParameter, SkipValidation

from fleetsvc.auth import Actor
from fleetsvc.errors import BadRequest, ValidationFailed
from fleetsvc.pagination import Page, PageRequest, page_request
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
    limit: Annotated[int | None, QueryParameter(description="1–1000, default 100")] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="next_cursor of the previous page")
    ] = None,
) -> PageRequest:
    return page_request(limit, cursor)


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    from api.guards import current_actor

    return current_actor(request)


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(body: Any, version: int, status_code: int = 200) -> Response[Any]:
    """A single record, with the ETag a later PATCH or transition sends as If-Match."""
    return Response(body, status_code=status_code, headers={"ETag": etag(version)})


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """A NUL in a query or path parameter: a 422 naming it (PostgreSQL cannot store NUL)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise ValidationFailed.one(name.replace("\x00", ""), "must not contain a NUL character")
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValidationFailed.one(name, "must not contain a NUL character")


def if_match(request: Request[Any, Any, Any]) -> int | None:
    """The version the client last saw, from ``If-Match`` (None when absent)."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()):
        raise BadRequest('If-Match must be an ETag this service returned, for example "3"')
    return int(value)
