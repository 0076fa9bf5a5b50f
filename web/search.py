"""Searches by personal data (an e-mail address, a name, a UPN, an employee number) without
putting it in a URL: the form is posted, its terms are kept with the session, and the page
is then read at ``?search=<handle>``, a random handle that pages on with ``&cursor=``.

A page uses the pair: ``remember`` in its POST handler, ``recall`` in its GET handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.response import Redirect

from db.engine import connection, transaction
from fleetsvc import sessions
from web.guards import signed_in


async def remember(
    request: Request[Any, Any, Any], kind: str, terms: Mapping[str, str], page_path: str
) -> Redirect:
    """Keep ``terms`` (blank ones dropped) and send the browser to ``page_path`` with
    their handle; with no terms at all, to the page unsearched."""
    kept = {k: v.strip() for k, v in terms.items() if v.strip()}
    if not kept:
        return Redirect(page_path, status_code=303)
    me = signed_in(request)
    async with transaction() as conn:
        handle = await sessions.save_search(conn, me.session_id, kind, kept)
    return Redirect(page_path, query_params={"search": handle}, status_code=303)


async def recall(
    request: Request[Any, Any, Any], kind: str, handle: str | None
) -> dict[str, str] | None:
    """The terms behind ``handle`` if this session kept them for this kind of search; None
    when there is no handle, or it has ended with its session (say so on the page)."""
    if not handle:
        return None
    me = signed_in(request)
    async with connection() as conn:
        return await sessions.load_search(conn, me.session_id, kind, handle)
