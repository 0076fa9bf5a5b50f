"""The vehicles pages: find a vehicle by VRM or fleet number (neither is personal data, so
the search is an ordinary GET form), and a vehicle's page with the IVMA kit fitted in it now
(each device linking to its page) and its history: every install and removal, and the
changes to the vehicle's own record from the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from db.engine import connection
from fleetsvc import audit, holdings, users, vehicles
from fleetsvc.audit import EventFilter
from fleetsvc.business_units import get_business_unit, list_business_units
from fleetsvc.holdings import FittedKit
from fleetsvc.pagination import PageRequest, decode_cursor
from fleetsvc.vehicles import Vehicle
from fleetsvc.vocabulary import VehicleStatus
from web.formats import words
from web.guards import READ_REGISTER
from web.listing import PAGE_SIZE, everything, page_links
from web.render import page

EVENTS_SHOWN: Final = 100
# Bookkeeping columns every record's event carries: not what a person changed.
_QUIET: Final = frozenset({"version", "updated_at", "created_at", "id"})

Text = Annotated[str | None, QueryParameter(max_length=64)]
Cursor = Annotated[str | None, QueryParameter(max_length=64)]


def _code(unit_codes: Mapping[int, str], unit_id: Any) -> Any:
    return unit_codes.get(unit_id, unit_id) if isinstance(unit_id, int) else unit_id


def changes(event: audit.Event, unit_codes: Mapping[int, str]) -> list[tuple[str, Any, Any]]:
    """What an event changed, field by field: (field, before, after); a business unit by
    its code."""
    before = event.before or {}
    after = event.after or {}
    names = [k for k in {**before, **after} if k not in _QUIET]
    out = []
    for name in names:
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name == "business_unit_id":
            name, old, new = "business_unit", _code(unit_codes, old), _code(unit_codes, new)
        out.append((name, old, new))
    return out


@dataclass(frozen=True, slots=True)
class VehicleRow:
    """One row of the vehicles list as the page shows it (the template only places it)."""

    id: int
    fleet_number: str
    vrm: str
    description: str
    unit: str
    status: str
    active: bool
    tablet_id: int | None
    tablet: str
    tablet_model: str


def vehicle_rows(
    found: Sequence[Vehicle], fitted: Mapping[int, FittedKit], units: Mapping[int, str]
) -> list[VehicleRow]:
    rows = []
    for v in found:
        k = fitted.get(v.id)
        rows.append(
            VehicleRow(
                id=v.id,
                fleet_number=v.fleet_number,
                vrm=v.vrm,
                description=v.description or "—",
                unit=units.get(v.business_unit_id, "—") if v.business_unit_id else "—",
                status=words(v.status),
                active=v.status == VehicleStatus.ACTIVE,
                tablet_id=k.tablet_id if k else None,
                tablet=k.tablet_serial if k else "",
                tablet_model=k.tablet_model if k else "",
            )
        )
    return rows


class Vehicles(Controller):
    path = "/vehicles"
    opt = READ_REGISTER

    @get("/", name="vehicles")
    async def list_vehicles(
        self,
        request: Request[Any, Any, Any],
        q: Text = None,
        status: Text = None,
        cursor: Cursor = None,
    ) -> Template:
        term = q.strip() if q and q.strip() else None
        wanted = status if status in tuple(VehicleStatus) else None
        async with connection() as conn:
            found = await vehicles.list_vehicles(
                conn,
                PageRequest(PAGE_SIZE, decode_cursor(cursor) if cursor else None),
                q=term,
                status=wanted,
            )
            fitted = await holdings.fitted_now(conn, [v.id for v in found.items])
            units = await everything(lambda p: list_business_units(conn, p))
        filters = {"q": term, "status": wanted}
        return page(
            request,
            "vehicles.html",
            found=found,
            rows=vehicle_rows(found.items, fitted, {u.id: u.code for u in units}),
            filters=filters,
            statuses=tuple(VehicleStatus),
            links=page_links("/vehicles", filters, found, cursor),
        )

    @get("/{vehicle_id:int}", name="vehicle")
    async def show(self, request: Request[Any, Any, Any], vehicle_id: FromPath[int]) -> Template:
        async with connection() as conn:
            vehicle = await vehicles.get_vehicle(conn, vehicle_id)
            kit = await holdings.vehicle_kit(conn, vehicle_id)
            events = await audit.list_events(
                conn,
                EventFilter(entity=vehicles.VEHICLE_ENTITY, entity_id=vehicle_id),
                PageRequest(EVENTS_SHOWN),
            )
            who = await users.emails_of(conn, (e.actor_name for e in events.items))
            unit = (
                await get_business_unit(conn, vehicle.business_unit_id)
                if vehicle.business_unit_id
                else None
            )
            # Unit codes only when an event names a unit (a move between units).
            moved = any(
                "business_unit_id" in {**(e.before or {}), **(e.after or {})} for e in events.items
            )
            units = await everything(lambda p: list_business_units(conn, p)) if moved else []
        codes = {u.id: u.code for u in units}
        return page(
            request,
            "vehicle.html",
            vehicle=vehicle,
            unit=unit,
            fitted=[k for k in kit if k.removed_on is None],
            kit=kit,
            events=events.items,
            more_events=events.next_cursor is not None,
            who=who,
            changes=lambda event: changes(event, codes),
        )


HANDLERS: Final = [Vehicles]
