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

# A cursor as ``encode_cursor`` writes it, for the OpenAPI document: "k1:" and the id's
# digits in unpadded URL-safe base64. "k1:" is ``azE6``; three ASCII digits are four
# characters from these sets; one or two left over are two or three. 1 to 9 digits:
# every record id below 10**9 (a cursor past MAX_ID is refused, as no list ends there).
# Empty is no cursor (the first page).
_DIGIT = "(?:[MN][DTjz]|O[DT])"  # a digit and the high bits of the next one
_DIGITS3 = f"{_DIGIT}[AEIMQUYcgk][w-z0-5]"
_DIGITS1 = "(?:[MN][AQgw]|O[AQ])"
_DIGITS2 = f"{_DIGIT}[AEIMQUYcgk]"
CURSOR_PATTERN = (
    f"^(?:azE6(?:(?:{_DIGITS3}){{0,2}}(?:{_DIGITS1}|{_DIGITS2})|(?:{_DIGITS3}){{1,3}}))?$"
)


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
