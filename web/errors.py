"""Every error a page can meet, as a page in the users' words: never a JSON problem
document, a stack trace or a blank page. Which status an error is comes from the API's
one mapping (``api/errors.py``); this module only words it for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect

from fleetsvc.settings import get_settings
from web.guards import SESSION_COOKIE
from web.links import came_from
from web.render import page

SIGN_IN_PATH = "/sign-in"


@dataclass(frozen=True, slots=True)
class PageError:
    status: int
    detail: str
    fields: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] | None = field(default=None)
    request_id: str | None = None


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB"


def _words(request: Request[Any, Any, Any], error: PageError) -> tuple[str, str, bool]:
    """The heading, the explanation, and whether the error's own detail helps too."""
    status = error.status
    if status == 400:
        return "This could not be read", "Go back, reload the page and try again.", False
    if status == 403:
        return "You can’t do this", "If your work needs it, ask an admin.", True
    if status == 404:
        return (
            "Not found",
            "There is nothing at this address: it may have been removed, or the link may be "
            "mistyped.",
            not error.detail.startswith("no route"),
        )
    if status == 405:
        return (
            "This page can’t be used that way",
            "Go back and use the page's own links and buttons.",
            False,
        )
    if status == 409:
        return "This can’t be done now", "Nothing was changed.", True
    if status == 412:
        return (
            "Someone changed this since you opened it",
            "Nothing was saved. Reload the page to see their change, then make yours again.",
            False,
        )
    if status == 413:
        s = get_settings()
        return (
            "That is too large",
            f"This service accepts files of up to {_mib(s.max_upload_bytes)} and forms of up "
            f"to {_mib(s.max_body_bytes)}. Nothing was saved: split the file and send each part.",
            False,
        )
    if status == 422:
        return "Some of this needs correcting", "Nothing was saved.", not error.fields
    if status == 503:
        return (
            "The register is not reachable just now",
            "Nothing was changed. Try again in a minute; if it goes on, tell the service desk.",
            False,
        )
    return (
        "Something went wrong on our side",
        "It has been logged. If it happens again, tell the service desk and quote the "
        "reference below.",
        False,
    )


def sign_in_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    """To the sign-in page, then on to the page asked for (a POST: the page it came from)."""
    response: Response[Any] = Redirect(
        SIGN_IN_PATH, query_params={"next": came_from(request)}, status_code=303
    )
    if request.cookies.get(SESSION_COOKIE):
        response.cookies.append(Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/"))
    return response


def error_page(request: Request[Any, Any, Any], error: PageError) -> Response[Any]:
    if error.status == 401:
        return sign_in_redirect(request)
    heading, explanation, show_detail = _words(request, error)
    headers = {k: v for k, v in (error.headers or {}).items() if k.lower() == "retry-after"}
    return page(
        request,
        "error.html",
        status=error.status,
        headers=headers,
        heading=heading,
        explanation=explanation,
        detail=error.detail if show_detail else None,
        fields=list(error.fields),
        reload=came_from(request) if error.status == 412 else None,
        reference=error.request_id,
    )
