"""The purchase-order pages: orders with each line's quantity delivered and outstanding (the
assets received on it), and the forms that raise and change them through the domain's own
functions (an order that would take its contract over its cap is refused beside its lines)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from db.engine import connection, transaction
from fleetsvc import device_models, sessions
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.procurement import contracts, purchase_orders
from fleetsvc.procurement.purchase_orders import PurchaseOrder
from fleetsvc.records import MAX_ID
from fleetsvc.sessions import Flash
from fleetsvc.vocabulary import PurchaseOrderStatus
from web import procurement_forms as forms
from web.forms import actor, form_values
from web.guards import READ_REGISTER, WRITE_PROCUREMENT, signed_in
from web.listing import PAGE_SIZE, everything, form_errors, page_links
from web.render import page

Text = Annotated[str | None, QueryParameter(max_length=64)]


def _contract_filter(value: str | None) -> int | None:
    """A contract id from the address; anything else (or out of range) lists none."""
    if value and value.isascii() and value.isdigit() and len(value) < 11:
        number = int(value)
        return number if 1 <= number <= MAX_ID else 0
    return None


def _order_values(order: PurchaseOrder | None, contract_id: str | None) -> dict[str, str]:
    if order is None:
        return {"contract_id": contract_id or "", "raised_on": dt.date.today().isoformat()}
    return {
        "number": order.number,
        "contract_id": str(order.contract_id),
        "raised_on": order.raised_on.isoformat(),
        "status": order.status,
        "version": str(order.version),
    }


def _line_rows(order: PurchaseOrder | None) -> list[dict[str, str]]:
    if order is None:
        return []
    return [
        {
            "model_id": str(ln.model_id),
            "quantity": str(ln.quantity),
            "unit_cost": f"{ln.unit_cost:.2f}",
        }
        for ln in order.lines
    ]


class PurchaseOrders(Controller):
    path = "/procurement/purchase-orders"
    opt = READ_REGISTER

    @get("/", name="purchase-orders")
    async def list_orders(
        self,
        request: Request[Any, Any, Any],
        status: Text = None,
        contract: Text = None,
        number: Text = None,
        cursor: Text = None,
    ) -> Template:
        async with connection() as conn:
            found = await purchase_orders.list_orders(
                conn,
                PageRequest(PAGE_SIZE, decode_cursor(cursor) if cursor else None),
                contract_id=_contract_filter(contract),
                status=status or None,
                number=number or None,
            )
        filters = {"status": status, "contract": contract, "number": number}
        return page(
            request,
            "procurement.html",
            tab="orders",
            found=found,
            links=page_links("/procurement/purchase-orders", filters, found, cursor),
            filters=filters,
            statuses=tuple(PurchaseOrderStatus),
        )

    @get("/{order_id:int}", name="purchase-order")
    async def show(self, request: Request[Any, Any, Any], order_id: FromPath[int]) -> Template:
        async with connection() as conn:
            order = await purchase_orders.get_order(conn, order_id)
            known = {
                m.id: m
                for m in await _models_of(conn, [u.model_id for u in order.unordered_deliveries])
            }
        return page(request, "purchase_order.html", order=order, models=known)

    async def _form(
        self,
        request: Request[Any, Any, Any],
        *,
        order: PurchaseOrder | None = None,
        values: dict[str, str] | None = None,
        rows: list[dict[str, str]] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        async with connection() as conn:
            known_contracts = await everything(lambda p: contracts.list_contracts(conn, p))
            models = await everything(lambda p: device_models.list_models(conn, p))
        return page(
            request,
            "purchase_order_form.html",
            status=status,
            order=order,
            values=values
            if values is not None
            else _order_values(order, request.query_params.get("contract")),
            line_rows=rows if rows is not None else _line_rows(order),
            blank_rows=forms.BLANK_ROWS,
            errors=errors or {},
            contracts=sorted(known_contracts, key=lambda c: c.reference.lower()),
            models=sorted(models, key=lambda m: (m.manufacturer.lower(), m.model_name.lower())),
            statuses=tuple(PurchaseOrderStatus),
        )

    @get("/new", name="purchase-order-new", opt=WRITE_PROCUREMENT)
    async def new(self, request: Request[Any, Any, Any]) -> Template:
        return await self._form(request)

    @post("/", name="purchase-order-create", opt=WRITE_PROCUREMENT, status_code=303)
    async def create(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        values = await form_values(request)
        try:
            data = forms.order_create(values)
            async with transaction() as conn:
                made = await purchase_orders.create_order(conn, actor(request), data)
                await sessions.set_flash(
                    conn,
                    signed_in(request).session_id,
                    Flash("ok", f"Purchase order {made.number} raised."),
                )
        except (ValidationFailed, Conflict) as exc:
            return await self._form(
                request,
                values=values,
                rows=forms.form_rows(values, "lines", forms.LINE_FIELDS),
                errors=form_errors(exc),
                status=409 if isinstance(exc, Conflict) else 422,
            )
        return Redirect(f"/procurement/purchase-orders/{made.id}", status_code=303)

    @get("/{order_id:int}/edit", name="purchase-order-edit", opt=WRITE_PROCUREMENT)
    async def edit(self, request: Request[Any, Any, Any], order_id: FromPath[int]) -> Template:
        async with connection() as conn:
            order = await purchase_orders.get_order(conn, order_id)
        return await self._form(request, order=order)

    @post("/{order_id:int}", name="purchase-order-update", opt=WRITE_PROCUREMENT, status_code=303)
    async def update(
        self, request: Request[Any, Any, Any], order_id: FromPath[int]
    ) -> Redirect | Template:
        values = await form_values(request)
        try:
            data = forms.order_update(values)
            async with transaction() as conn:
                saved = await purchase_orders.update_order(
                    conn, actor(request), order_id, data, forms.version_of(values)
                )
                await sessions.set_flash(
                    conn,
                    signed_in(request).session_id,
                    Flash("ok", f"Purchase order {saved.number} saved."),
                )
        except (ValidationFailed, Conflict) as exc:
            async with connection() as conn:
                order = await purchase_orders.get_order(conn, order_id)
            return await self._form(
                request,
                order=order,
                values=values,
                rows=forms.form_rows(values, "lines", forms.LINE_FIELDS),
                errors=form_errors(exc),
                status=409 if isinstance(exc, Conflict) else 422,
            )
        return Redirect(f"/procurement/purchase-orders/{order_id}", status_code=303)


async def _models_of(conn: asyncpg.Connection, ids: list[int]) -> list[device_models.DeviceModel]:
    return [await device_models.get_model(conn, i) for i in sorted(set(ids))]
