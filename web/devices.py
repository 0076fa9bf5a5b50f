"""The devices pages: the list (one search box for any identifier, filters, a keyset-paged
table) and a device's page (its facts, its timeline and the moves its status allows), on
the same domain functions as the API's ``/assets``.

No personal data in a URL: the search box takes employee numbers and UPNs too, so it is
posted; a search that finds one device goes straight to its page (``/devices/{id}``), any
other is kept with the session and the list is read at ``?search=<handle>`` (``web.search``).
The filters (category, status, model, business unit, refresh date) are not personal and stay
in the address, so a filtered list can be linked to. The person search of "issue to a
person" is posted and kept the same way.

Every move is a form carrying the version of the device it was rendered with: a device
changed since is refused ("someone changed this device since you opened it"), never
overwritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Final

import asyncpg
from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from db.engine import connection, transaction
from fleetsvc import sessions
from fleetsvc.assets.document import Asset, as_asset
from fleetsvc.assets.filters import AssetFilter
from fleetsvc.assets.history import asset_history
from fleetsvc.assets.lookup import get_asset, list_assets
from fleetsvc.assets.moves import Transition, transition
from fleetsvc.assets.names import asset_names, filter_choices
from fleetsvc.errors import BadRequest, Conflict, StaleVersion, TransitionRefused, ValidationFailed
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.people import Person, list_people
from fleetsvc.records import MAX_ID
from fleetsvc.sessions import Flash
from fleetsvc.vocabulary import AssetStatus, Category
from web.device_actions import (
    STATUS_TAGS,
    STATUS_WORDS,
    actions_for,
    ids_in,
    move_errors,
    refused_message,
    timeline,
)
from web.formats import day
from web.forms import actor, form_values
from web.guards import DEVICE_ACTIONS, READ_REGISTER, signed_in
from web.listing import page_links
from web.render import can, page
from web.search import recall, remember

Text = Annotated[str | None, QueryParameter(max_length=64)]
SEARCH_KIND: Final = "devices"
PEOPLE_KIND: Final = "device-people"
PAGE_SIZE: Final = 100
TIMELINE_PAGE: Final = 50
PEOPLE_SHOWN: Final = 10
# The list's filters: in the address (none is personal data).
FILTERS: Final = ("category", "status", "model", "business_unit", "refresh_due_before")


def _record_id(value: str | None, field: str, what: str) -> int | None:
    if not value:
        return None
    if value.isascii() and value.isdigit() and len(value) < 11 and 1 <= int(value) <= MAX_ID:
        return int(value)
    raise ValidationFailed.one(field, f"choose {what} from the list")


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.one(field, "give a date such as 31/03/2025") from None


def asset_filter(filters: Mapping[str, str | None], q: str | None = None) -> AssetFilter:
    """The list's filters (and a search term) as the API's ``AssetFilter``."""
    return AssetFilter(
        category=filters.get("category") or None,
        status=filters.get("status") or None,
        model_id=_record_id(filters.get("model"), "model", "a model"),
        business_unit=filters.get("business_unit") or None,
        refresh_due_before=_date(filters.get("refresh_due_before"), "refresh_due_before"),
        q=q or None,
    )


# One row of the list, as the template writes it (plain values, unpacked in its loop: the
# list page is timed against the API's JSON, and each attribute Jinja looks up costs).
DeviceRow = tuple[int, str, str, str, str, str, str | None, str, str, str, str, str]


def device_row(a: Asset) -> DeviceRow:
    """id, serial, its tag and IMEI, model, status tag and words, the holder's link, name and
    number, where it is kept, its phone number, its refresh date."""
    h = a.holder
    if h is None:
        href, holder, holder_sub = None, "", ""
    elif h.kind == "person":
        href, holder, holder_sub = (
            f"/people/{h.person_id}",
            h.display_name or "",
            h.employee_number or "",
        )
    else:
        href, holder, holder_sub = (
            f"/vehicles/{h.vehicle_id}",
            h.vrm or "",
            f"fleet {h.fleet_number}",
        )
    return (
        a.id,
        a.serial_number,
        " · ".join(x for x in (a.asset_tag, a.imei) if x),
        f"{a.model.manufacturer} {a.model.model_name}",
        STATUS_TAGS.get(a.status, "muted"),
        STATUS_WORDS.get(a.status, a.status),
        href,
        holder,
        holder_sub,
        a.location or "—",
        a.sim.msisdn if a.sim and a.sim.msisdn else "—",
        day(a.refresh_due_on) if a.refresh_due_on else "—",
    )


def _status_context() -> dict[str, Any]:
    return {"status_words": STATUS_WORDS, "status_tags": STATUS_TAGS}


class Devices(Controller):
    path = "/devices"
    opt = READ_REGISTER

    @get("/", name="devices")
    async def list_devices(
        self,
        request: Request[Any, Any, Any],
        category: Text = None,
        status: Text = None,
        model: Text = None,
        business_unit: Text = None,
        refresh_due_before: Text = None,
        search: Annotated[str | None, QueryParameter(max_length=43)] = None,
        cursor: Text = None,
    ) -> Template:
        filters = {
            "category": category,
            "status": status,
            "model": model,
            "business_unit": business_unit,
            "refresh_due_before": refresh_due_before,
        }
        terms = await recall(request, SEARCH_KIND, search)
        q = (terms or {}).get("q")
        async with connection() as conn:
            found = await list_assets(
                conn,
                asset_filter(filters, q),
                PageRequest(PAGE_SIZE, decode_cursor(cursor) if cursor else None),
            )
            choices = await filter_choices(conn)
        kept = {**filters, "search": search if terms else None}
        return page(
            request,
            "devices.html",
            rows=[device_row(as_asset(doc)) for doc in found.items],
            shown=len(found.items),
            links=page_links("/devices", kept, found, cursor),
            filters=filters,
            q=q,
            search_lost=bool(search) and terms is None,
            filtered=any(filters.values()),
            categories=tuple(Category),
            statuses=tuple(AssetStatus),
            models=choices.models,
            units=choices.business_units,
            **_status_context(),
        )

    @post("/search", name="devices-search", status_code=303)
    async def search(self, request: Request[Any, Any, Any]) -> Redirect:
        """One identifier of any kind: one device found is its page; else the list."""
        values = await form_values(request)
        q = values.get("q", "").strip()
        filters = {k: values[k] for k in FILTERS if values.get(k)}
        if not q:
            return Redirect("/devices", query_params=filters, status_code=303)
        async with connection() as conn:
            found = await list_assets(conn, asset_filter(filters, q), PageRequest(2))
        if len(found.items) == 1:
            return Redirect(f"/devices/{as_asset(found.items[0]).id}", status_code=303)
        async with transaction() as conn:
            handle = await sessions.save_search(
                conn, signed_in(request).session_id, SEARCH_KIND, {"q": q}
            )
        return Redirect("/devices", query_params={**filters, "search": handle}, status_code=303)

    @get("/{asset_id:int}", name="device")
    async def show(
        self,
        request: Request[Any, Any, Any],
        asset_id: FromPath[int],
        search: Annotated[str | None, QueryParameter(max_length=43)] = None,
        events: Text = None,
    ) -> Template:
        return await self._device_page(request, asset_id, search=search, events=events)

    @post("/{asset_id:int}/people", name="device-people", opt=DEVICE_ACTIONS, status_code=303)
    async def find_person(
        self, request: Request[Any, Any, Any], asset_id: FromPath[int]
    ) -> Redirect:
        """The person search of "issue to a person", kept off the address like the list's."""
        values = await form_values(request)
        return await remember(
            request, PEOPLE_KIND, {"person": values.get("person", "")}, f"/devices/{asset_id}"
        )

    @post("/{asset_id:int}/move", name="device-move", opt=DEVICE_ACTIONS, status_code=303)
    async def move(
        self, request: Request[Any, Any, Any], asset_id: FromPath[int]
    ) -> Redirect | Template:
        values = await form_values(request)
        to = values.get("to", "")
        try:
            version = _version(values)
            wanted = Transition(
                to=to,
                reason=values.get("reason", ""),
                person_id=_record_id(values.get("person_id"), "person_id", "the person"),
                certificate_ref=values.get("certificate_ref") if to == "disposed" else None,
                location_id=_record_id(values.get("location_id"), "location_id", "a location"),
            )
            async with transaction() as conn:
                moved = await transition(conn, actor(request), asset_id, wanted, version)
                await sessions.set_flash(
                    conn, signed_in(request).session_id, Flash("ok", _moved_text(moved))
                )
        except StaleVersion:
            return _stale(request, asset_id)
        except TransitionRefused as exc:
            return await self._device_page(
                request, asset_id, status=409, refused=refused_message(exc)
            )
        except Conflict as exc:
            return await self._device_page(request, asset_id, status=409, refused=exc.message)
        except ValidationFailed as exc:
            errors = move_errors(exc)
            if "to" in errors:
                return await self._device_page(
                    request, asset_id, status=422, refused="That is not a move this page offers."
                )
            return await self._device_page(
                request, asset_id, status=422, failed=to, errors=errors, values=values
            )
        return Redirect(f"/devices/{asset_id}", status_code=303)

    async def _device_page(
        self,
        request: Request[Any, Any, Any],
        asset_id: int,
        *,
        search: str | None = None,
        events: str | None = None,
        status: int = 200,
        refused: str | None = None,
        failed: str | None = None,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        terms = await recall(request, PEOPLE_KIND, search)
        async with connection() as conn:
            asset = await get_asset(conn, asset_id)
            history = await asset_history(
                conn,
                asset_id,
                PageRequest(TIMELINE_PAGE, decode_cursor(events) if events else None),
            )
            actions = actions_for(asset.status) if can(request, "device-move") else []
            matches = await _people(conn, terms["person"]) if terms else []
            names = await asset_names(
                conn,
                contract_id=asset.contract_id,
                purchase_order_id=asset.purchase_order_id,
                person_ids=ids_in(history.items, "person_id"),
                location_ids=ids_in(history.items, "location_id"),
                actors=(e.actor_name for e in history.items),
                with_stores=any(a.takes_location for a in actions),
            )
        return page(
            request,
            "device.html",
            status=status,
            asset=asset,
            timeline=timeline(history.items, names.users, names.places),
            events_links=page_links(
                f"/devices/{asset_id}", {}, history, events, cursor_name="events"
            ),
            names=names,
            actions=actions,
            person_terms=terms,
            person_search_lost=bool(search) and terms is None,
            matches=matches,
            refused=refused,
            failed=failed,
            errors=errors or {},
            values=values or {},
            **_status_context(),
        )


def _version(values: Mapping[str, str]) -> int:
    raw = values.get("version", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 11):
        raise BadRequest("this form has no version of the device: reload the page")
    return int(raw)


def _moved_text(asset: Asset) -> str:
    label = asset.asset_tag or asset.serial_number
    text = f"Device {label} is now {STATUS_WORDS.get(asset.status, asset.status)}"
    if asset.holder is not None and asset.holder.display_name:
        text += f", issued to {asset.holder.display_name}"
    elif asset.location:
        text += f", kept at {asset.location}"
    return text + "."


def _stale(request: Request[Any, Any, Any], asset_id: int) -> Template:
    return page(
        request,
        "error.html",
        status=412,
        heading="Someone changed this device since you opened it",
        explanation=(
            "Nothing was saved. Reload the device's page to see what changed, then do what "
            "you meant to again if it still needs doing."
        ),
        detail=None,
        fields=[],
        reload=f"/devices/{asset_id}",
        reference=None,
    )


async def _people(conn: asyncpg.Connection, text: str) -> list[Person]:
    """People still with the force whose name, employee number or UPN matches."""
    found = await list_people(conn, PageRequest(PEOPLE_SHOWN), q=text, active=True)
    return found.items


HANDLERS: Final = [Devices]
