"""The asset list's filters and free-text search, as WHERE clauses: by identity (serial,
IMEI, phone number, asset tag), by holder (person, vehicle, business unit), by model,
status, contract, the location it is kept at and refresh date. Each filter is answered
through an index (tests/api/test_assets_filters.py checks the plans); a bad value is a
422 naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fleetsvc.assets.fields import normalised, strict_imei
from fleetsvc.assets.lifecycle import check_status
from fleetsvc.errors import ValidationFailed
from fleetsvc.locations import location_code
from fleetsvc.records import Filters
from fleetsvc.vocabulary import Category
from importers.fields import (
    FieldError,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    normalise_vrm,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AssetFilter:
    category: str | None = None
    status: str | None = None
    model_id: int | None = None
    serial: str | None = None
    imei: str | None = None
    msisdn: str | None = None
    asset_tag: str | None = None
    person_id: int | None = None
    employee_number: str | None = None
    upn: str | None = None
    vehicle_id: int | None = None
    vrm: str | None = None
    fleet_number: str | None = None
    contract_id: int | None = None
    business_unit: str | None = None
    location: str | None = None
    refresh_due_before: dt.date | None = None
    q: str | None = None


# Assets fitted (as tablet or dock) in a vehicle now; {0} is the vehicle condition.
_IN_VEHICLE = (
    "a.id IN (SELECT unnest(ARRAY[i.tablet_id, i.dock_id]) FROM install i"
    " WHERE i.removed_on IS NULL AND i.vehicle_id {0})"
)


def asset_filters(flt: AssetFilter) -> Filters:
    """The WHERE clauses for a list; each filter is answered through an index."""
    f = Filters()
    if flt.category is not None:
        if not Category.has(flt.category):
            raise ValidationFailed.one("category", f"category must be one of {Category.listed()}")
        f.add("a.model_id IN (SELECT id FROM device_model WHERE category = {})", flt.category)
    if flt.status is not None:
        f.add("a.status = {}", check_status(flt.status, "status"))
    if flt.model_id is not None:
        f.add("a.model_id = {}", flt.model_id)
    _identity_filters(f, flt)
    _holder_filters(f, flt)
    if flt.contract_id is not None:
        f.add("a.contract_id = {}", flt.contract_id)
    if flt.location is not None:
        f.add(
            "a.location_id = (SELECT id FROM location WHERE code = {})", location_code(flt.location)
        )
    if flt.refresh_due_before is not None:
        f.add("a.refresh_due_on < {}", flt.refresh_due_before)
    if flt.q is not None and flt.q.strip():
        _add_search(f, flt.q.strip())
    return f


def _identity_filters(f: Filters, flt: AssetFilter) -> None:
    """The device's own identifiers, normalised as they are stored."""
    if flt.serial is not None:
        f.add("a.serial_number = {}", normalised("serial", flt.serial, normalise_serial))
    if flt.imei is not None:
        imei = normalised("imei", flt.imei, normalise_imei)[0]
        f.add("a.imei = {}", imei)
    if flt.msisdn is not None:
        msisdn = normalised("msisdn", flt.msisdn, normalise_msisdn)
        f.add("a.id = (SELECT asset_id FROM sim WHERE msisdn = {})", msisdn)
    if flt.asset_tag is not None:
        f.add("a.asset_tag = {}", flt.asset_tag.strip())


def _holder_filters(f: Filters, flt: AssetFilter) -> None:
    """Who or what holds the device: a person, a vehicle, or either's business unit."""
    if flt.person_id is not None:
        f.add("a.person_id = {}", flt.person_id)
    if flt.employee_number is not None:
        f.add(
            "a.person_id = (SELECT id FROM person WHERE employee_number = {})",
            flt.employee_number.strip().upper(),  # stored upper-cased
        )
    if flt.upn is not None:
        f.add(
            "a.person_id IN (SELECT id FROM person WHERE lower(upn) = lower({}))", flt.upn.strip()
        )
    if flt.vehicle_id is not None:
        f.add(_IN_VEHICLE.format("= {0}"), flt.vehicle_id)
    if flt.vrm is not None:
        vrm = normalised("vrm", flt.vrm, normalise_vrm)
        f.add(_IN_VEHICLE.format("= (SELECT id FROM vehicle WHERE vrm = {0})"), vrm)
    if flt.fleet_number is not None:
        f.add(
            _IN_VEHICLE.format("= (SELECT id FROM vehicle WHERE fleet_number = {0})"),
            flt.fleet_number.strip().upper(),  # stored upper-cased
        )
    if flt.business_unit is not None:
        f.add(
            "a.id IN (SELECT x.id FROM asset x JOIN person p ON p.id = x.person_id"
            " JOIN business_unit b ON b.id = p.business_unit_id WHERE b.code = {0}"
            " UNION ALL SELECT unnest(ARRAY[i.tablet_id, i.dock_id]) FROM install i"
            " JOIN vehicle v ON v.id = i.vehicle_id JOIN business_unit b"
            " ON b.id = v.business_unit_id WHERE i.removed_on IS NULL AND b.code = {0})",
            flt.business_unit.strip().upper(),
        )


def _attempt(normalise: Callable[[str], T], text: str) -> T | None:
    try:
        return normalise(text)
    except FieldError:
        return None


def _add_search(f: Filters, text: str) -> None:
    """Free text: an exact match on any identifier, each looked up through its own index."""
    parts: list[str] = []

    def add(sql: str, value: object) -> None:
        f.args.append(value)
        parts.append(sql.format(f"${len(f.args)}"))

    serial = _attempt(normalise_serial, text)
    if serial:
        add("SELECT id FROM asset WHERE serial_number = {}", serial)
    imei = _attempt(strict_imei, text)
    if imei:
        add("SELECT id FROM asset WHERE imei = {}", imei)
    add("SELECT id FROM asset WHERE asset_tag = {}", text)
    msisdn = _attempt(normalise_msisdn, text)
    if msisdn:
        add("SELECT asset_id FROM sim WHERE msisdn = {}", msisdn)
    # Fleet and employee numbers are stored upper-cased.
    vehicle_keys = [text, text.upper()]
    vrm = _attempt(normalise_vrm, text)
    if vrm:
        vehicle_keys.append(vrm)
    f.args.append(vehicle_keys)
    mark = f"${len(f.args)}"
    vehicles = (
        f"(SELECT id FROM vehicle WHERE vrm = ANY({mark}::text[])"
        f" UNION SELECT id FROM vehicle WHERE fleet_number = ANY({mark}::text[]))"
    )
    parts.append(
        "SELECT unnest(ARRAY[tablet_id, dock_id]) FROM install"
        f" WHERE removed_on IS NULL AND vehicle_id = ANY(ARRAY{vehicles})"
    )
    add(
        "SELECT id FROM asset WHERE person_id = (SELECT id FROM person WHERE employee_number = {})",
        text.upper(),
    )
    if "@" in text:
        add(
            "SELECT id FROM asset WHERE person_id IN"
            " (SELECT id FROM person WHERE lower(upn) = lower({}))",
            text,
        )
    f.clauses.append(f"a.id IN ({' UNION ALL '.join(parts)})")
