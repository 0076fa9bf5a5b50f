"""Where a page may send the browser next: only to a path of this service, never to
another site (a crafted ``next`` must not make the sign-in page an open redirect)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request

HOME = "/"
_NOT_PAGES = ("/api", "/schema", "/static", "/sign-in", "/sign-out")


def safe_next(raw: str | None) -> str:
    """``raw`` if it is a path of one of the pages (``/users/3``), else the home page."""
    if not raw or len(raw) > 2000 or not raw.isprintable() or "\\" in raw:
        return HOME
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//"):
        return HOME
    if any(parts.path == p or parts.path.startswith(p + "/") for p in _NOT_PAGES):
        return HOME
    return raw


def came_from(request: Request[Any, Any, Any]) -> str:
    """The page this request was made from (its Referer, when it is one of ours), else the
    path asked for when it was a page read, else the home page."""
    referer = request.headers.get("referer", "")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.headers.get("host"):
            return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    if request.method == "GET":
        query = request.scope.get("query_string", b"").decode("latin-1")
        return safe_next(request.url.path + (f"?{query}" if query else ""))
    return HOME
