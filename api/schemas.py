"""Schemas every controller shares: a page of a list, a record id."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from fleetsvc.pagination import Page
from fleetsvc.records import MAX_ID
from fleetsvc.records import RecordId as RecordId  # a body's record id: defined with the domain

T = TypeVar("T")

# A record id in a query string: outside the database's range is a 422.
RecordIdQuery = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]


class PageOf(msgspec.Struct, Generic[T]):
    """A page of a list: pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None


def page_of(page: Page[Any], convert: Any = None) -> PageOf[Any]:
    items = page.items if convert is None else [convert(i) for i in page.items]
    return PageOf(items=items, next_cursor=page.next_cursor)
