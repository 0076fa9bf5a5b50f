"""An MDM's device records, checked: the MDM's own JSON schema (pushed over the API or
pulled from the Graph API) and the rows of the console's export file.

Each record is checked and normalised on its own; a record with a problem is rejected with
the reason (its place in the batch, the field, the message) and never stops the rest of its
batch. Every copy of an id repeated in a batch is rejected.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import msgspec

from fleetsvc.vocabulary import Compliance
from importers import (
    FieldError,
    ParsedRow,
    clean_text,
    luhn_check_digit,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    parse_timestamp,
)
from importers.fields.identifiers import MAX_SERIAL_LEN

_GRAPH_NEVER = "0001-01-01"  # Graph's way of saying "never" in a date-time field
_ISO_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}")


def _choice_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", value.casefold())


_COMPLIANCE: Final = {_choice_key(v): v for v in Compliance} | {
    # The console export's spellings (the intune-devices profile's canonical values).
    "notevaluated": Compliance.UNKNOWN,
    "notcompliant": Compliance.NONCOMPLIANT,
}

# Ownership as the export profile writes it; the Graph API says "company" for "corporate".
_OWNERSHIP: Final = {
    "company": "corporate",
    "corporate": "corporate",
    "personal": "personal",
    "unknown": "unknown",
}


class ManagedDevice(msgspec.Struct, rename="camel", omit_defaults=True):
    """One device in the MDM's own (Graph ``managedDevice``) schema; other fields are ignored.

    Every field is text so that a malformed value rejects its record, not the whole batch.
    """

    id: str | None = None
    device_name: str | None = None
    serial_number: str | None = None
    imei: str | None = None
    phone_number: str | None = None
    user_principal_name: str | None = None
    compliance_state: str | None = None
    last_sync_date_time: str | None = None
    enrolled_date_time: str | None = None
    operating_system: str | None = None
    os_version: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    managed_device_owner_type: str | None = None


class DeviceRecord(msgspec.Struct, frozen=True, gc=False):
    """A checked, normalised MDM record, ready to be staged (a Struct: 40,000 are built a
    run, and a frozen dataclass sets each field through ``object.__setattr__``)."""

    index: int
    mdm_device_id: str
    serial_number: str | None
    imei: str | None
    device_name: str
    user_upn: str | None
    compliance: str | None
    last_sync_at: dt.datetime | None
    enrolled_at: dt.datetime | None
    operating_system: str | None
    os_version: str | None
    manufacturer: str | None
    model: str | None
    owner_type: str | None
    phone_number: str | None


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reason a record was not applied: ``index`` is its place in the batch (push and
    pull) or its row number in the file."""

    index: int
    mdm_device_id: str | None
    field: str | None
    message: str


Checked = DeviceRecord | list[Rejection]


class _Problems:
    """Collects a record's problems; each normaliser call is wrapped in ``check``."""

    def __init__(self, index: int, device_id: str | None) -> None:
        self.index = index
        self.device_id = device_id
        self.items: list[Rejection] = []

    def add(self, name: str | None, message: str) -> None:
        self.items.append(Rejection(self.index, self.device_id, name, message))

    def text(self, name: str, value: str | None, max_len: int) -> str | None:
        if value is None:
            return None
        # The usual case, cheaply: printable, trimmed, short enough (40,000 records a run).
        if value.isprintable() and len(value) <= max_len and value == value.strip():
            return value or None
        try:
            text = clean_text(value, max_len)
        except FieldError as exc:
            self.add(name, exc.message)
            return None
        return text or None

    def stamp(self, name: str, value: str | None) -> dt.datetime | None:
        if value is None or not value.strip() or value.strip().startswith(_GRAPH_NEVER):
            return None
        if _ISO_STAMP.match(value):
            try:
                when = dt.datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
                if 1990 <= when.year < 2100:
                    return when.astimezone(dt.UTC)
        try:
            return parse_timestamp(value)
        except FieldError as exc:
            self.add(name, exc.message)
            return None


# The usual record, cheaply (a run is 40,000 of them): ``_usual_record`` takes a record only
# when every field is in the form in which ``_check_device`` would keep it as it is (or map
# it through the same table), and hands anything else to ``_check_device``; the two give
# the same record (tests.fleetsvc.mdm.test_checks compares them).
_E164_UK_MOBILE = re.compile(r"\+447[0-9]{9}")
_CHOICES_CACHED: Final = 256  # distinct spellings remembered (a vocabulary has a handful)
_compliance_of: dict[str, str | None] = {}
_ownership_of: dict[str, str] = {}


def _usual_text(value: str | None, max_len: int) -> str | bool | None:
    """The text as ``_Problems.text`` keeps it, or False when it needs the full check."""
    if value is None:
        return None
    if value.isprintable() and len(value) <= max_len and value == value.strip():
        return value or None
    return False


def _usual_stamp(value: str | None) -> dt.datetime | bool | None:
    """The time as ``_Problems.stamp`` reads it, or False when it needs the full check."""
    if value is None:
        return None
    if not _ISO_STAMP.match(value):
        return False  # blank, another form, or leading space: the full check decides
    if value.startswith(_GRAPH_NEVER):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC) if 1990 <= when.year < 2100 else False


def _usual_compliance(value: str) -> str | None:
    known = _compliance_of.get(value, False)
    if known is False:
        known = _COMPLIANCE.get(_choice_key(value)) if value.strip() else None
        if len(_compliance_of) < _CHOICES_CACHED:
            _compliance_of[value] = known
    return known  # type: ignore[return-value]


def _usual_ownership(value: str) -> str:
    known = _ownership_of.get(value)
    if known is None:
        known = _OWNERSHIP.get(_choice_key(value), value)
        if len(_ownership_of) < _CHOICES_CACHED:
            _ownership_of[value] = known
    return known


def _usual_record(index: int, d: ManagedDevice) -> DeviceRecord | None:
    """The record if it is in the usual form throughout; None sends it to the full check."""
    rid, serial, imei, phone = d.id, d.serial_number, d.imei, d.phone_number
    if not rid or len(rid) > 64 or not rid.isprintable() or rid != rid.strip():
        return None
    if serial:
        if not (serial.isalnum() and serial.isascii() and len(serial) <= MAX_SERIAL_LEN):
            return None
        serial = serial.upper()
    else:
        serial = None
    if imei:
        if not (len(imei) == 15 and imei.isdigit() and imei.isascii()):
            return None
        if luhn_check_digit(imei[:14]) != imei[14]:
            return None
    else:
        imei = None
    if serial is None and imei is None:
        return None
    if phone and not _E164_UK_MOBILE.fullmatch(phone):
        return None
    compliance = None
    if d.compliance_state:
        compliance = _usual_compliance(d.compliance_state)
        if compliance is None and d.compliance_state.strip():
            return None
    texts = (
        _usual_text(d.device_name, 200),
        _usual_text(d.user_principal_name, 254),
        _usual_text(d.operating_system, 32),
        _usual_text(d.os_version, 64),
        _usual_text(d.manufacturer, 100),
        _usual_text(d.model, 100),
        _usual_text(d.managed_device_owner_type, 32),
    )
    if False in texts:
        return None
    last_sync_at, enrolled_at = (
        _usual_stamp(d.last_sync_date_time),
        _usual_stamp(d.enrolled_date_time),
    )
    if last_sync_at is False or enrolled_at is False:
        return None
    name, upn, os_name, os_version, maker, model, owner = texts
    return DeviceRecord(
        index=index,
        mdm_device_id=rid,
        serial_number=serial,
        imei=imei,
        device_name=name or "",  # type: ignore[arg-type]
        user_upn=upn,  # type: ignore[arg-type]
        compliance=compliance,
        last_sync_at=last_sync_at,  # type: ignore[arg-type]
        enrolled_at=enrolled_at,  # type: ignore[arg-type]
        operating_system=os_name,  # type: ignore[arg-type]
        os_version=os_version,  # type: ignore[arg-type]
        manufacturer=maker,  # type: ignore[arg-type]
        model=model,  # type: ignore[arg-type]
        owner_type=_usual_ownership(owner) if isinstance(owner, str) else None,
        phone_number=phone or None,
    )


def check_device(index: int, device: ManagedDevice) -> Checked:
    """A record in the MDM's schema, checked and normalised, or the reasons it is rejected."""
    return _usual_record(index, device) or _check_device(index, device)


def _check_device(index: int, device: ManagedDevice) -> Checked:
    """The full check of ``check_device``: every field through its normaliser."""
    raw_id = device.id.strip() if device.id else ""
    # The id a rejection is listed under; PostgreSQL cannot store a NUL in text.
    p = _Problems(index, raw_id[:64].replace("\x00", "\ufffd") or None)
    device_id = p.text("id", raw_id, 64)
    if not raw_id:
        p.add("id", "the MDM device id is required")
    serial = imei = phone = None
    if device.serial_number and device.serial_number.strip():
        try:
            serial = normalise_serial(device.serial_number)
        except FieldError as exc:
            p.add("serialNumber", exc.message)
    if device.imei and device.imei.strip():
        try:
            imei = normalise_imei(device.imei)[0]
        except FieldError as exc:
            p.add("imei", exc.message)
    if serial is None and imei is None and not p.items:
        p.add(None, "a record needs a serial number or an IMEI to be matched")
    if device.phone_number and device.phone_number.strip():
        try:
            phone = normalise_msisdn(device.phone_number)
        except FieldError as exc:
            p.add("phoneNumber", exc.message)
    compliance = None
    if device.compliance_state and device.compliance_state.strip():
        compliance = _COMPLIANCE.get(_choice_key(device.compliance_state))
        if compliance is None:
            p.add("complianceState", f"must be one of: {Compliance.listed()}")
    device_name = p.text("deviceName", device.device_name, 200) or ""
    user_upn = p.text("userPrincipalName", device.user_principal_name, 254)
    last_sync_at = p.stamp("lastSyncDateTime", device.last_sync_date_time)
    enrolled_at = p.stamp("enrolledDateTime", device.enrolled_date_time)
    operating_system = p.text("operatingSystem", device.operating_system, 32)
    os_version = p.text("osVersion", device.os_version, 64)
    manufacturer = p.text("manufacturer", device.manufacturer, 100)
    model = p.text("model", device.model, 100)
    owner_type = p.text("managedDeviceOwnerType", device.managed_device_owner_type, 32)
    if owner_type is not None:
        owner_type = _OWNERSHIP.get(_choice_key(owner_type), owner_type)
    if p.items or device_id is None:
        return p.items
    return DeviceRecord(
        index=index,
        mdm_device_id=device_id,
        serial_number=serial,
        imei=imei,
        device_name=device_name,
        user_upn=user_upn,
        compliance=compliance,
        last_sync_at=last_sync_at,
        enrolled_at=enrolled_at,
        operating_system=operating_system,
        os_version=os_version,
        manufacturer=manufacturer,
        model=model,
        owner_type=owner_type,
        phone_number=phone,
    )


def _export_text(values: dict[str, object], name: str) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) and value else None


def _export_stamp(values: dict[str, object], name: str) -> dt.datetime | None:
    value = values.get(name)
    return value if isinstance(value, dt.datetime) else None


# The export's columns a sync uses; a bad value in another column (an ICCID, a patch level)
# does not stop the device being reconciled.
EXPORT_FIELDS: Final = frozenset(
    {
        "mdm_device_id",
        "device_name",
        "enrolled_at",
        "last_check_in_at",
        "serial_number",
        "manufacturer",
        "model",
        "imei",
        "user_upn",
        "compliance",
        "os",
        "os_version",
        "phone_number",
        "ownership",
    }
)


def check_export_row(row: ParsedRow, used_columns: frozenset[str] | None = None) -> Checked:
    """A row of the console export (already parsed by the intune-devices profile);
    ``used_columns`` are the headers of EXPORT_FIELDS (None: every error counts)."""
    device_id = _export_text(row.values, "mdm_device_id")
    problems = [
        Rejection(row.row, device_id, e.column, e.message)
        for e in row.errors
        if used_columns is None or e.column is None or e.column in used_columns
    ]
    if problems:
        return problems
    serial = _export_text(row.values, "serial_number")
    imei = _export_text(row.values, "imei")
    if device_id is None:
        return [Rejection(row.row, None, "Device ID", "the MDM device id is required")]
    if len(device_id) > 64:
        return [Rejection(row.row, None, "Device ID", "the MDM device id is over 64 characters")]
    if serial is None and imei is None:
        message = "a record needs a serial number or an IMEI to be matched"
        return [Rejection(row.row, device_id, None, message)]
    compliance = _export_text(row.values, "compliance")
    if compliance is not None:
        compliance = _export_compliance(compliance)
    values = row.values
    name, upn, os_name, os_version, maker, model, owner, phone = (
        value[:max_len] if isinstance(value := values.get(field), str) and value else None
        for field, max_len in _EXPORT_CUTS
    )
    return DeviceRecord(
        index=row.row,
        mdm_device_id=device_id,
        serial_number=serial,
        imei=imei,
        device_name=name or "",
        user_upn=upn,
        compliance=compliance,
        last_sync_at=_export_stamp(values, "last_check_in_at"),
        enrolled_at=_export_stamp(values, "enrolled_at"),
        operating_system=os_name,
        os_version=os_version,
        manufacturer=maker,
        model=model,
        owner_type=owner,
        phone_number=phone,
    )


# The export's text columns a record keeps, in DeviceRecord's order, each cut to its length.
_EXPORT_CUTS: Final = (
    ("device_name", 200),
    ("user_upn", 254),
    ("os", 32),
    ("os_version", 64),
    ("manufacturer", 100),
    ("model", 100),
    ("ownership", 32),
    ("phone_number", 16),
)
_export_compliance_of: dict[str, str] = {}


def _export_compliance(value: str) -> str:
    """The export's compliance spelling in the service's vocabulary (unknown if not one)."""
    known = _export_compliance_of.get(value)
    if known is None:
        known = _COMPLIANCE.get(_choice_key(value), Compliance.UNKNOWN)
        if len(_export_compliance_of) < _CHOICES_CACHED:
            _export_compliance_of[value] = known
    return known


def split_checked(items: Iterable[Checked]) -> tuple[list[DeviceRecord], list[Rejection]]:
    """Good records and rejections; every copy of an id that is repeated in the batch is
    rejected (which copy is right would be a guess), even when another copy was rejected
    for a reason of its own."""
    records: list[DeviceRecord] = []
    rejections: list[Rejection] = []
    seen: dict[str, int] = {}
    for item in items:
        if isinstance(item, DeviceRecord):
            records.append(item)
            seen[item.mdm_device_id] = seen.get(item.mdm_device_id, 0) + 1
        else:
            rejections.extend(item)
            if item and item[0].mdm_device_id:
                seen[item[0].mdm_device_id] = seen.get(item[0].mdm_device_id, 0) + 1
    if any(n > 1 for n in seen.values()):
        kept = []
        for r in records:
            n = seen[r.mdm_device_id]
            if n > 1:
                message = f"the id appears {n} times in this batch; none of them was applied"
                rejections.append(Rejection(r.index, r.mdm_device_id, "id", message))
            else:
                kept.append(r)
        records = kept
    rejections.sort(key=lambda r: r.index)
    return records, rejections
