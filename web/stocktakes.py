"""Stocktake pages: the list (and starting one), the scan page, and the result with the close.

The scan page is one field for a USB barcode scanner, which types the code and Enter. The
form posts one code; with JavaScript (``static/scan.js``) it is sent in the background and
the answer (a fragment this module renders: ``X-Fleetsvc-Fragment: scan``) replaces the
last one at once, the field keeping the focus; without it the page posts and comes back.
Both call ``fleetsvc.stocktakes`` as the API does. Stores staff and admins count and close;
every role reads the results.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Response, Template

from db.engine import connection, transaction
from fleetsvc import sessions
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.locations import list_locations
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.sessions import Flash
from fleetsvc.settings import get_settings
from fleetsvc.stocktakes import close, report, scans, service
from fleetsvc.stocktakes.documents import ScanBatch, StocktakeClose, StocktakeOpen
from web.forms import actor, form_values
from web.guards import EVERYONE, STORES, signed_in
from web.render import field_errors, page

FRAGMENT: Final = "X-Fleetsvc-Fragment"
PAGE_SIZE: Final = 50
LOCATIONS_SHOWN: Final = 1000


def _id(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def _first(errors: dict[str, str]) -> str:
    """The form has one field: whatever the domain named, the message goes beside it."""
    return next(iter(errors.values()))


def _ticked(values: dict[str, str], name: str) -> bool:
    return values.get(name, "") in ("on", "true", "1")


class Stocktakes(Controller):
    path = "/stocktakes"
    opt = EVERYONE

    async def _list_page(
        self,
        request: Request[Any, Any, Any],
        cursor: str | None = None,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        async with connection() as conn:
            after = decode_cursor(cursor) if cursor else None
            found = await service.list_stocktakes(
                conn, PageRequest(limit=PAGE_SIZE, after_id=after)
            )
            places = await list_locations(conn, PageRequest(limit=LOCATIONS_SHOWN))
        return page(
            request,
            "stocktakes.html",
            status=status,
            found=found,
            locations=places.items,
            errors=errors or {},
            values=values or {},
        )

    @get("/", name="stocktakes")
    async def list_all(
        self,
        request: Request[Any, Any, Any],
        cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> Template:
        return await self._list_page(request, cursor)

    @post("/", name="stocktakes-open", status_code=303, opt=STORES)
    async def open_one(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        values = await form_values(request)
        location_id = _id(values.get("location_id", ""))
        if location_id is None:
            return await self._list_page(
                request, status=422, errors={"location_id": "choose the location to count"}
            )
        try:
            async with transaction() as conn:
                opened = await service.open_stocktake(
                    conn, actor(request), StocktakeOpen(location_id=location_id)
                )
        except (ValidationFailed, Conflict) as exc:
            code = 409 if isinstance(exc, Conflict) else 422
            errors = {"location_id": _first(field_errors(exc))}
            return await self._list_page(request, status=code, errors=errors, values=values)
        return Redirect(f"/stocktakes/{opened.id}/scan", status_code=303)

    @get("/{stocktake_id:int}", name="stocktake")
    async def show(self, request: Request[Any, Any, Any], stocktake_id: FromPath[int]) -> Template:
        async with connection() as conn:
            found = await service.get_stocktake(conn, stocktake_id)
        return page(request, "stocktake.html", st=found, stale_days=get_settings().mdm_stale_days)

    async def _scan_page(
        self,
        request: Request[Any, Any, Any],
        stocktake_id: int,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        fragment: bool = False,
    ) -> Template:
        async with connection() as conn:
            row = await service.head_row(conn, stocktake_id)
            head = await service.stocktake_of(conn, row)
            recent = await scans.recent_scans(conn, stocktake_id)
        template = "_scan_fragment.html" if fragment else "stocktake_scan.html"
        return page(
            request,
            template,
            status=status,
            headers={FRAGMENT: "scan"} if fragment else None,
            st=head,
            recent=recent,
            last=recent[0] if recent and not errors else None,
            errors=errors or {},
        )

    @get("/{stocktake_id:int}/scan", name="stocktake-scan", opt=STORES)
    async def scan_page(
        self, request: Request[Any, Any, Any], stocktake_id: FromPath[int]
    ) -> Template | Redirect:
        async with connection() as conn:
            row = await service.head_row(conn, stocktake_id)
        if row["status"] != "open":
            return Redirect(f"/stocktakes/{stocktake_id}", status_code=303)
        return await self._scan_page(request, stocktake_id)

    @post("/{stocktake_id:int}/scan", name="stocktake-scan-post", status_code=303, opt=STORES)
    async def scan(
        self, request: Request[Any, Any, Any], stocktake_id: FromPath[int]
    ) -> Redirect | Template:
        """One code; answered with the fragment when the page's script sent it."""
        fragment = request.headers.get(FRAGMENT) == "scan"
        code = (await form_values(request)).get("code", "")
        try:
            async with transaction() as conn:
                await scans.record_scans(conn, actor(request), stocktake_id, ScanBatch([code]))
        except (ValidationFailed, Conflict) as exc:
            errors = {"code": _first(field_errors(exc))}
            status = 409 if isinstance(exc, Conflict) else 422
            return await self._scan_page(
                request, stocktake_id, status=status, errors=errors, fragment=fragment
            )
        if fragment:
            return await self._scan_page(request, stocktake_id, fragment=True)
        return Redirect(f"/stocktakes/{stocktake_id}/scan", status_code=303)

    @post("/{stocktake_id:int}/close", name="stocktake-close", status_code=303, opt=STORES)
    async def close_one(
        self, request: Request[Any, Any, Any], stocktake_id: FromPath[int]
    ) -> Redirect:
        me = signed_in(request)
        values = await form_values(request)
        choice = StocktakeClose(
            move_elsewhere_here=_ticked(values, "move_elsewhere_here"),
            mark_missing_lost=_ticked(values, "mark_missing_lost"),
        )
        async with transaction() as conn:
            closed = await close.close_stocktake(conn, actor(request), stocktake_id, choice)
            moves = closed.moves
            said = f"Stocktake {stocktake_id} is closed; its result is kept as it stands."
            if moves is not None and (moves.moved_here or moves.marked_lost):
                said += (
                    f" {moves.moved_here} device(s) moved here, {moves.marked_lost} marked lost."
                )
            await sessions.set_flash(conn, me.session_id, Flash("ok", said))
        return Redirect(f"/stocktakes/{stocktake_id}", status_code=303)

    @get("/{stocktake_id:int}/report", name="stocktake-report")
    async def download(
        self,
        stocktake_id: FromPath[int],
        fmt: Annotated[str | None, QueryParameter(name="format", max_length=8)] = None,
    ) -> Response[bytes]:
        async with connection() as conn:
            export = await report.stocktake_export(conn, stocktake_id)
        out = report.report_file(export, fmt)
        return Response(
            content=out.body,
            headers={
                "Content-Type": out.media_type,
                "Content-Disposition": f"attachment; filename={out.filename}",
                "Cache-Control": "no-store",
            },
        )
