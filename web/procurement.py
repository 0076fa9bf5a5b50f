"""The procurement pages: contracts (with what their purchase orders commit and the cap left)
and suppliers; read by every role, written by stores and finance through the same domain
functions as the API. Purchase orders are in ``web/purchase_orders.py``."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from db.engine import connection, transaction
from fleetsvc import sessions
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.procurement import contracts, suppliers
from fleetsvc.procurement.contracts import ENDING_SOON_DAYS, Contract
from fleetsvc.procurement.suppliers import SupplierCreate
from fleetsvc.sessions import Flash
from fleetsvc.vocabulary import Category, ChargeAppliesTo, ChargePeriod, ContractKind
from web import procurement_forms as forms
from web.forms import actor, form_values
from web.guards import READ_REGISTER, WRITE_PROCUREMENT, signed_in
from web.listing import PAGE_SIZE, everything, form_errors, page_links
from web.purchase_orders import PurchaseOrders
from web.render import page

Text = Annotated[str | None, QueryParameter(max_length=200)]
Cursor = Annotated[str | None, QueryParameter(max_length=64)]


def _vocabularies() -> dict[str, Any]:
    return {
        "contract_kinds": tuple(ContractKind),
        "applies_to": tuple(ChargeAppliesTo),
        "periods": tuple(ChargePeriod),
        "categories": tuple(Category),
    }


def _charge_rows(contract: Contract | None) -> list[dict[str, str]]:
    if contract is None:
        return []
    return [
        {
            "description": c.description,
            "applies_to": c.applies_to,
            "category": c.category or "",
            "unit_amount": f"{c.unit_amount:.2f}",
            "period": c.period,
        }
        for c in contract.charges
    ]


def _contract_values(contract: Contract) -> dict[str, str]:
    return {
        "reference": contract.reference,
        "supplier_id": str(contract.supplier_id),
        "kind": contract.kind,
        "title": contract.title,
        "starts_on": contract.starts_on.isoformat(),
        "ends_on": contract.ends_on.isoformat() if contract.ends_on else "",
        "value_cap": f"{contract.value_cap:.2f}" if contract.value_cap is not None else "",
        "version": str(contract.version),
    }


class Procurement(Controller):
    path = "/procurement"
    opt = READ_REGISTER

    @get("/", name="procurement")
    async def list_contracts(
        self,
        request: Request[Any, Any, Any],
        q: Text = None,
        kind: Text = None,
        ending: Text = None,
        cursor: Cursor = None,
    ) -> Template:
        ending_soon = ending == "soon"
        async with connection() as conn:
            found = await contracts.list_contracts(
                conn,
                PageRequest(PAGE_SIZE, decode_cursor(cursor) if cursor else None),
                kind=kind or None,
                ending_within_days=ENDING_SOON_DAYS if ending_soon else None,
                q=q,
            )
        filters = {"q": q, "kind": kind, "ending": "soon" if ending_soon else None}
        return page(
            request,
            "procurement.html",
            tab="contracts",
            found=found,
            links=page_links("/procurement", filters, found, cursor),
            filters=filters,
            ending_soon_days=ENDING_SOON_DAYS,
            **_vocabularies(),
        )

    @get("/contracts/{contract_id:int}", name="contract")
    async def show_contract(
        self, request: Request[Any, Any, Any], contract_id: FromPath[int]
    ) -> Template:
        async with connection() as conn:
            contract = await contracts.get_contract(conn, contract_id)
        return page(request, "contract.html", contract=contract)

    async def _form(
        self,
        request: Request[Any, Any, Any],
        *,
        contract: Contract | None = None,
        values: dict[str, str] | None = None,
        rows: list[dict[str, str]] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        async with connection() as conn:
            known = await everything(lambda p: suppliers.list_suppliers(conn, p))
        return page(
            request,
            "contract_form.html",
            status=status,
            contract=contract,
            values=values
            if values is not None
            else (_contract_values(contract) if contract else {}),
            charge_rows=rows if rows is not None else _charge_rows(contract),
            blank_rows=forms.BLANK_ROWS,
            errors=errors or {},
            suppliers=sorted(known, key=lambda s: s.name.lower()),
            **_vocabularies(),
        )

    @get("/contracts/new", name="contract-new", opt=WRITE_PROCUREMENT)
    async def new_contract(self, request: Request[Any, Any, Any]) -> Template:
        return await self._form(request)

    @post("/contracts", name="contract-create", opt=WRITE_PROCUREMENT, status_code=303)
    async def create_contract(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        values = await form_values(request)
        try:
            data = forms.contract_create(values)
            async with transaction() as conn:
                made = await contracts.create_contract(conn, actor(request), data)
                await sessions.set_flash(
                    conn,
                    signed_in(request).session_id,
                    Flash("ok", f"Contract {made.reference} created."),
                )
        except (ValidationFailed, Conflict) as exc:
            return await self._form(
                request,
                values=values,
                rows=forms.form_rows(values, "charges", forms.CHARGE_FIELDS),
                errors=form_errors(exc),
                status=409 if isinstance(exc, Conflict) else 422,
            )
        return Redirect(f"/procurement/contracts/{made.id}", status_code=303)

    @get("/contracts/{contract_id:int}/edit", name="contract-edit", opt=WRITE_PROCUREMENT)
    async def edit_contract(
        self, request: Request[Any, Any, Any], contract_id: FromPath[int]
    ) -> Template:
        async with connection() as conn:
            contract = await contracts.get_contract(conn, contract_id)
        return await self._form(request, contract=contract)

    @post(
        "/contracts/{contract_id:int}",
        name="contract-update",
        opt=WRITE_PROCUREMENT,
        status_code=303,
    )
    async def update_contract(
        self, request: Request[Any, Any, Any], contract_id: FromPath[int]
    ) -> Redirect | Template:
        values = await form_values(request)
        try:
            data = forms.contract_update(values)
            async with transaction() as conn:
                saved = await contracts.update_contract(
                    conn, actor(request), contract_id, data, forms.version_of(values)
                )
                await sessions.set_flash(
                    conn,
                    signed_in(request).session_id,
                    Flash("ok", f"Contract {saved.reference} saved."),
                )
        except (ValidationFailed, Conflict) as exc:
            async with connection() as conn:
                contract = await contracts.get_contract(conn, contract_id)
            return await self._form(
                request,
                contract=contract,
                values=values,
                rows=forms.form_rows(values, "charges", forms.CHARGE_FIELDS),
                errors=form_errors(exc),
                status=409 if isinstance(exc, Conflict) else 422,
            )
        return Redirect(f"/procurement/contracts/{contract_id}", status_code=303)

    @get("/suppliers", name="suppliers")
    async def list_suppliers(
        self, request: Request[Any, Any, Any], cursor: Cursor = None
    ) -> Template:
        return await self._suppliers(request, cursor)

    async def _suppliers(
        self,
        request: Request[Any, Any, Any],
        cursor: str | None = None,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        async with connection() as conn:
            found = await suppliers.list_suppliers(
                conn, PageRequest(PAGE_SIZE, decode_cursor(cursor) if cursor else None)
            )
        return page(
            request,
            "procurement.html",
            status=status,
            tab="suppliers",
            found=found,
            links=page_links("/procurement/suppliers", {}, found, cursor),
            errors=errors or {},
            values=values or {},
        )

    @post("/suppliers", name="supplier-create", opt=WRITE_PROCUREMENT, status_code=303)
    async def create_supplier(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        values = await form_values(request)
        try:
            async with transaction() as conn:
                made = await suppliers.create_supplier(
                    conn, actor(request), SupplierCreate(name=values.get("name", ""))
                )
                await sessions.set_flash(
                    conn,
                    signed_in(request).session_id,
                    Flash("ok", f"Supplier “{made.name}” added (id {made.id})."),
                )
        except (ValidationFailed, Conflict) as exc:
            return await self._suppliers(
                request,
                status=409 if isinstance(exc, Conflict) else 422,
                errors=form_errors(exc),
                values=values,
            )
        return Redirect("/procurement/suppliers", status_code=303)


HANDLERS: Final = [Procurement, PurchaseOrders]
