"""What the list pages share: the links to the next and first page of a keyset-paged list
(its filters kept), every record of a short list for a form's select, and form errors named
as the form's own fields."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar
from urllib.parse import urlencode

from fleetsvc.errors import Conflict, FieldProblem, ValidationFailed
from fleetsvc.pagination import MAX_LIMIT, Page, PageRequest

T = TypeVar("T")
PAGE_SIZE: Final = 50
# A select lists at most this many (suppliers, contracts, models: tens in a real force).
SELECT_CAP: Final = 5_000


@dataclass(frozen=True, slots=True)
class PageLinks:
    next_url: str | None
    first_url: str | None
    shown: int


def page_links(
    path: str,
    params: Mapping[str, str | None],
    found: Page[T],
    cursor: str | None,
    *,
    cursor_name: str = "cursor",
) -> PageLinks:
    """``path?filters&cursor=…`` for the next page (None on the last) and ``path?filters``
    for the first (None on the first). A page of several lists names each one's cursor."""
    kept = {k: v for k, v in params.items() if v}
    next_url = (
        f"{path}?{urlencode({**kept, cursor_name: found.next_cursor})}"
        if found.next_cursor
        else None
    )
    first_url = (f"{path}?{urlencode(kept)}" if kept else path) if cursor else None
    return PageLinks(next_url, first_url, len(found.items))


async def everything(fetch: Callable[[PageRequest], Awaitable[Page[T]]]) -> list[T]:
    """Every item of a list, page by page, up to ``SELECT_CAP``."""
    out: list[T] = []
    after: int | None = None
    while len(out) < SELECT_CAP:
        found = await fetch(PageRequest(limit=MAX_LIMIT, after_id=after))
        out.extend(found.items)
        if found.next_cursor is None or not found.items:
            break
        after = getattr(found.items[-1], "id")  # noqa: B009 - every listed record has an id
    return out


def form_errors(exc: ValidationFailed | Conflict) -> dict[str, str]:
    """A form's problems by the form's field names: the domain's ``lines.2.quantity`` is the
    form's ``lines-2-quantity`` (each shown beside its own field)."""
    problems = (
        exc.problems
        if isinstance(exc, ValidationFailed)
        else [FieldProblem(exc.field or "form", exc.message)]
    )
    out: dict[str, str] = {}
    for p in problems:
        out.setdefault(p.field.replace(".", "-"), p.message)
    return out
