"""(being written)"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, get
from litestar.response import Template

from web.guards import EVERYONE
from web.render import page


@get("/imports", name="imports", opt=EVERYONE)
async def stub(request: Request[Any, Any, Any]) -> Template:
    return page(request, "home.html")


HANDLERS: Final = [stub]
