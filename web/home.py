"""The home page: where every signed-in user lands (the dashboard replaces it)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from web.guards import EVERYONE
from web.render import page


@get("/", name="home", opt=EVERYONE)
async def home(request: Request[Any, Any, Any]) -> Template:
    return page(request, "home.html")
