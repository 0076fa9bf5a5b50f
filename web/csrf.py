"""Every form carries a token that a page of this service gave it; a POST without a valid
one is refused (a 403 page) before its handler runs.

Signed in, the token is the session's own (kept with the session in the database). On the
sign-in form, before any session exists, it is a random value that is both in a cookie and
in the form: another site can make a browser post the form, but cannot read or set the
cookie to match. A POST that says it comes from another site (Origin, Sec-Fetch-Site) is
refused too.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from fleetsvc.errors import Forbidden
from fleetsvc.settings import get_settings
from web.guards import page_user

FIELD = "csrf_token"
STREAMED_FORM = "streamed_form"
SIGN_IN_COOKIE = "fleetsvc_signin"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class FormRefused(Forbidden):
    """A form that did not come from a page of this service, or came from an old one."""

    def __init__(self) -> None:
        super().__init__(
            "This form could not be accepted: it was opened too long ago, or it did not "
            "come from one of this service's pages. Go back, reload the page and try again."
        )


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)


def expected_token(request: Request[Any, Any, Any]) -> str:
    """The token this request's forms must carry (empty: none can be valid)."""
    user = page_user(request)
    if user is not None:
        return user.csrf_token
    return request.cookies.get(SIGN_IN_COOKIE, "")


def _cross_site(request: Request[Any, Any, Any]) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False  # older browsers send none on a same-origin POST
    if origin == "null":
        return True
    public = get_settings().public_url
    ours = {request.headers.get("host", ""), urlsplit(public).netloc if public else ""}
    return urlsplit(origin).netloc not in ours


def check_token(request: Request[Any, Any, Any], sent: object) -> None:
    """Refuse the form unless ``sent`` is this request's token and it came from our pages."""
    expected = expected_token(request)
    if (
        _cross_site(request)
        or not expected
        or not isinstance(sent, str)
        or not secrets.compare_digest(sent.encode(), expected.encode())
    ):
        raise FormRefused()


async def check_form_token(request: Request[Any, Any, Any]) -> None:
    """A before-request hook on the pages' router. A handler marked ``STREAMED_FORM`` reads
    its own body (a file streamed to disk as it arrives, never parsed whole here) and calls
    ``check_token`` with the field it received; only where the form came from is checked
    before it runs."""
    if request.method in _SAFE:
        return
    if request.route_handler.opt.get(STREAMED_FORM):
        if _cross_site(request):
            raise FormRefused()
        return
    form = await request.form()
    check_token(request, form.get(FIELD))
