"""What every controller is given: the caller (``actor``), the page asked for (``page``),
and the request class that reads bodies."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import SerializationException
from litestar.params import QueryParameter, SkipValidation

from fleetsvc.auth import Actor
from fleetsvc.pagination import CURSOR_PATTERN, MAX_LIMIT, PageRequest, page_request

# Built by our own providers, so Litestar need not validate them again.
ActorDep = NamedDependency[SkipValidation[Actor]]
PageDep = NamedDependency[SkipValidation[PageRequest]]


async def provide_page(
    limit: Annotated[
        int | None,
        # Documented only: page_request checks it, with the message clients see.
        QueryParameter(
            description="1–1000, default 100", schema_extra={"minimum": 1, "maximum": MAX_LIMIT}
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        # Documented only, as limit: decode_cursor refuses a foreign one with its message.
        QueryParameter(
            description="next_cursor of the previous page",
            schema_extra={"pattern": CURSOR_PATTERN},
        ),
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
