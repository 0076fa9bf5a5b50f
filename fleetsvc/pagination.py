"""Keyset pagination: the one helper every list uses.

A cursor is an opaque token naming the last id of the previous page; a
tampered or foreign cursor is refused rather than silently restarting.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from fleetsvc.errors import ValidationFailed

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_PREFIX = "k1:"
FOREIGN_CURSOR = "the cursor is not one this service issued"


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after_id: int | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    bad = ValidationFailed.one("cursor", FOREIGN_CURSOR)
    if len(cursor) > 64:
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    if not text.startswith(_PREFIX) or not text[len(_PREFIX) :].isdigit():
        raise bad
    value = int(text[len(_PREFIX) :])
    if value > 2**63 - 1:
        raise bad
    return value


def page_request(limit: int | None, cursor: str | None) -> PageRequest:
    if limit is None:
        limit = DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.one("limit", f"limit must be from 1 to {MAX_LIMIT}")
    return PageRequest(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


def make_page(rows: Sequence[T], request: PageRequest, key: Callable[[T], int]) -> Page[T]:
    """``rows`` were fetched with ``LIMIT request.limit + 1``, ordered by id."""
    items = list(rows[: request.limit])
    more = len(rows) > request.limit
    return Page(items=items, next_cursor=encode_cursor(key(items[-1])) if more and items else None)
