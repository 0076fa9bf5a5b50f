"""MDM sync and reconciliation: the MDM's device list brought together with the register.

Records arrive by push (API batches), from the MDM console's export file, or by pull
(the Graph API, see ``fleetsvc.graph``). Each batch is checked record by record; the good
records are then matched and applied with set-based SQL inside the caller's one
transaction: COPY into a staging table, match by serial then IMEI, UPDATE only the assets
whose MDM facts changed (one event each), upsert every record into ``mdm_device``. A
rejected record is listed in the run's report; it never stops the rest of its batch, and a
batch is applied whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import zipfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import asyncpg
import msgspec

from db.engine import transaction
from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, FleetError, NotFound, TooLarge, ValidationFailed
from fleetsvc.logs import get_logger
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.records import Filters
from fleetsvc.vocabulary import LEFT_ESTATE, MDM_MANAGED, Compliance, MdmRunSource, MdmRunStatus
from importers import (
    FieldError,
    FileRejected,
    ParsedRow,
    clean_text,
    get_profile,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    parse_file,
    parse_timestamp,
)

log = get_logger("fleetsvc.mdm")

MAX_BATCH: Final = 5_000
PULL_BATCH: Final = 1_000
FILE_BATCH: Final = 5_000
MAX_ISSUES_SHOWN: Final = 1_000
_RUN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
_GRAPH_NEVER = "0001-01-01"  # Graph's way of saying "never" in a date-time field
_ISO_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}")


def _choice_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", value.casefold())


_COMPLIANCE: Final = {_choice_key(v): v for v in Compliance} | {
    # The console export's spellings (the intune-devices profile's canonical values).
    "notevaluated": "unknown",
    "notcompliant": "noncompliant",
}

# Ownership as the export profile writes it; the Graph API says "company" for "corporate".
_OWNERSHIP: Final = {
    "company": "corporate",
    "corporate": "corporate",
    "personal": "personal",
    "unknown": "unknown",
}


# --- records in ------------------------------------------------------------------------------


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


GRAPH_SELECT: Final = (
    "id",
    "deviceName",
    "serialNumber",
    "imei",
    "phoneNumber",
    "userPrincipalName",
    "complianceState",
    "lastSyncDateTime",
    "enrolledDateTime",
    "operatingSystem",
    "osVersion",
    "manufacturer",
    "model",
    "managedDeviceOwnerType",
)


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A checked, normalised MDM record, ready to be staged."""

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

_STAGE_COLUMNS: Final = (
    "idx",
    "mdm_device_id",
    "serial_number",
    "imei",
    "device_name",
    "user_upn",
    "compliance",
    "last_sync_at",
    "enrolled_at",
    "operating_system",
    "os_version",
    "manufacturer",
    "model",
    "owner_type",
    "phone_number",
)


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


def check_device(index: int, device: ManagedDevice) -> Checked:
    """A record in the MDM's schema, checked and normalised, or the reasons it is rejected."""
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
        compliance = _COMPLIANCE.get(_choice_key(compliance), "unknown")

    def cut(name: str, max_len: int) -> str | None:
        text = _export_text(row.values, name)
        return text[:max_len] if text else None

    return DeviceRecord(
        index=row.row,
        mdm_device_id=device_id,
        serial_number=serial,
        imei=imei,
        device_name=cut("device_name", 200) or "",
        user_upn=cut("user_upn", 254),
        compliance=compliance,
        last_sync_at=_export_stamp(row.values, "last_check_in_at"),
        enrolled_at=_export_stamp(row.values, "enrolled_at"),
        operating_system=cut("os", 32),
        os_version=cut("os_version", 64),
        manufacturer=cut("manufacturer", 100),
        model=cut("model", 100),
        owner_type=cut("ownership", 32),
        phone_number=cut("phone_number", 16),
    )


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


# --- runs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunCounts:
    received: int = 0
    matched: int = 0
    unknown: int = 0
    changed: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Issue:
    batch: int
    index: int
    mdm_device_id: str | None
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    run_id: str
    source: str
    status: str
    created_by: str
    started_at: dt.datetime
    closed_at: dt.datetime | None
    batches: int
    counts: RunCounts
    error: str | None = None
    issues: list[Issue] = field(default_factory=list)


def new_run_key(source: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{source}-{stamp}-{secrets.token_hex(3)}"


def _check_run_key(run_key: str) -> str:
    if not _RUN_KEY.fullmatch(run_key):
        raise ValidationFailed.one(
            "run_id", "run_id must be 1 to 64 letters, digits, dots, colons, dashes or underscores"
        )
    return run_key


def _counts_of(raw: Any) -> tuple[RunCounts, dict[str, dict[str, int]], str | None]:
    data = msgspec.json.decode(raw) if isinstance(raw, str | bytes) else dict(raw or {})
    per_batch: dict[str, dict[str, int]] = data.get("batches", {})
    totals = {k: sum(b.get(k, 0) for b in per_batch.values()) for k in RunCounts.__slots__}
    return RunCounts(**totals), per_batch, data.get("error")


def _run_of(row: asyncpg.Record, issues: list[Issue] | None = None) -> Run:
    counts, _, error = _counts_of(row["counts"])
    return Run(
        id=row["id"],
        run_id=row["run_key"],
        source=row["source"],
        status=row["status"],
        created_by=row["created_by"],
        started_at=row["started_at"],
        closed_at=row["closed_at"],
        batches=row["batches"],
        counts=counts,
        error=error,
        issues=issues or [],
    )


async def _lock_run(
    conn: asyncpg.Connection, actor: Actor, run_key: str, source: str, *, create: bool
) -> asyncpg.Record:
    """The open run, locked for this transaction (created if ``create``)."""
    row = None
    if create:
        row = await conn.fetchrow(
            "INSERT INTO mdm_run (run_key, source, status, created_by, started_at, batches, counts)"
            " VALUES ($1, $2, 'open', $3, now(), 0, '{}') ON CONFLICT (run_key) DO NOTHING"
            " RETURNING *",
            run_key,
            source,
            actor.name[:100],
        )
    if row is None:
        row = await conn.fetchrow("SELECT * FROM mdm_run WHERE run_key = $1 FOR UPDATE", run_key)
    if row is None:
        raise NotFound("open MDM run", run_key)
    if row["status"] == MdmRunStatus.CLOSED:
        raise Conflict(
            f"the MDM run {run_key} is closed; send a new run with a new run_id",
            existing_id=row["id"],
            field="run_id",
        )
    if row["status"] == MdmRunStatus.FAILED:
        raise Conflict(
            f"the MDM run {run_key} failed; send a new run with a new run_id",
            existing_id=row["id"],
            field="run_id",
        )
    if row["source"] != source:
        raise Conflict(
            f"the MDM run {run_key} is a {row['source']} run; use a new run_id",
            existing_id=row["id"],
            field="run_id",
        )
    return row


async def start_run(conn: asyncpg.Connection, actor: Actor, run_key: str, source: str) -> Run:
    """Open a new run (file and pull jobs open theirs before the first batch)."""
    _check_run_key(run_key)
    row = await conn.fetchrow(
        "INSERT INTO mdm_run (run_key, source, status, created_by, started_at, batches, counts)"
        " VALUES ($1, $2, 'open', $3, now(), 0, '{}') ON CONFLICT (run_key) DO NOTHING"
        " RETURNING *",
        run_key,
        source,
        actor.name[:100],
    )
    if row is None:
        raise Conflict(f"an MDM run {run_key} already exists", field="run_id")
    return _run_of(row)


async def fail_run(conn: asyncpg.Connection, run_key: str, message: str) -> None:
    """Mark an open run failed; the batches it applied stay, nothing else is touched."""
    await conn.execute(
        "UPDATE mdm_run SET status = 'failed',"
        " counts = jsonb_set(counts, '{error}', to_jsonb($2::text))"
        " WHERE run_key = $1 AND status = 'open'",
        run_key,
        message[:500],
    )


async def _close(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    counts, _, _ = _counts_of(row["counts"])
    if counts.received == 0:
        raise ValidationFailed.one(
            "final", "the run has received no records; a run with no devices cannot be closed"
        )
    await conn.execute(
        "UPDATE mdm_run SET status = 'closed', closed_at = now() WHERE id = $1", row["id"]
    )


# --- applying a batch ----------------------------------------------------------------------------

_STAGE_SQL = """
DROP TABLE IF EXISTS pg_temp.mdm_input;
DROP TABLE IF EXISTS pg_temp.mdm_stage;
DROP TABLE IF EXISTS pg_temp.mdm_changed;
CREATE TEMP TABLE mdm_input (
    idx integer NOT NULL,
    mdm_device_id varchar(64) NOT NULL,
    serial_number varchar(64),
    imei varchar(15),
    device_name varchar(200) NOT NULL,
    user_upn varchar(254),
    compliance varchar(32),
    last_sync_at timestamptz,
    enrolled_at timestamptz,
    operating_system varchar(32),
    os_version varchar(64),
    manufacturer varchar(100),
    model varchar(100),
    owner_type varchar(32),
    phone_number varchar(16)
) ON COMMIT DROP;
CREATE TEMP TABLE mdm_changed (id integer, before jsonb, after jsonb) ON COMMIT DROP;
"""

# Each record with the asset it matches and that asset's MDM facts as they were, in one
# statement: index lookups per record (a LATERAL each, so a batch never scans the whole
# register). Serial first: the same maker's serial wins, another maker's only if no other
# asset has that serial; then IMEI for records the serial did not match. The primary record
# of an asset is its latest one that is not older than what is already held.
_MATCH_SQL = """
CREATE TEMP TABLE mdm_stage ON COMMIT DROP AS
SELECT m.*,
       m.asset_id IS NOT NULL AND NOT m.older AND row_number() OVER (
           PARTITION BY m.asset_id, m.older
           ORDER BY m.last_sync_at DESC NULLS LAST, m.mdm_device_id) = 1 AS is_primary
FROM (
    SELECT i.*, a.id AS asset_id, a.mdm_device_id AS old_device_id,
           a.last_seen_at AS old_last_seen_at, a.mdm_compliance AS old_compliance,
           a.mdm_os_version AS old_os_version, a.mdm_user_upn AS old_user_upn,
           (i.last_sync_at < a.last_seen_at) IS TRUE AS older
    FROM mdm_input i
    LEFT JOIN LATERAL (
        SELECT x.id FROM asset x
        WHERE x.serial_number = i.serial_number
          AND (x.manufacturer = lower(i.manufacturer)
               OR NOT EXISTS (SELECT 1 FROM asset y
                              WHERE y.serial_number = x.serial_number AND y.id <> x.id))
        ORDER BY (x.manufacturer = lower(i.manufacturer)) IS TRUE DESC, x.id
        LIMIT 1
    ) by_serial ON i.serial_number IS NOT NULL
    -- LIMIT 1 (the keys are unique) keeps each a lookup by index per record: without it
    -- the planner may hash-join the whole asset table for a batch of a thousand.
    LEFT JOIN LATERAL (
        SELECT x.id FROM asset x WHERE by_serial.id IS NULL AND x.imei = i.imei LIMIT 1
    ) by_imei ON true
    LEFT JOIN LATERAL (
        SELECT x.id, x.mdm_device_id, md.last_sync_at AS last_seen_at, x.mdm_compliance,
               x.mdm_os_version, x.mdm_user_upn
        FROM asset x LEFT JOIN mdm_device md ON md.mdm_device_id = x.mdm_device_id
        WHERE x.id = COALESCE(by_serial.id, by_imei.id)
        LIMIT 1
    ) a ON true
) m;
-- For the plans of the statements that join it to asset; the other columns only pass through.
ANALYZE mdm_stage (asset_id, is_primary, mdm_device_id, old_device_id);
"""

# An MDM device id moves to the asset this batch matched it to: another asset holding it
# lets it go first (the id is unique on assets).
_FREE_SQL = """
WITH freed AS (
    UPDATE asset a SET mdm_device_id = NULL, updated_at = now()
    FROM (
        SELECT h.id, s.mdm_device_id FROM mdm_stage s
        CROSS JOIN LATERAL (
            SELECT x.id FROM asset x WHERE x.mdm_device_id = s.mdm_device_id
        ) h
        -- An asset that holds the id already holds it alone (the id is unique on assets).
        WHERE s.is_primary AND s.old_device_id IS DISTINCT FROM s.mdm_device_id
          AND h.id <> s.asset_id
    ) f
    WHERE a.id = f.id
    RETURNING a.id, f.mdm_device_id
), restaged AS (
    UPDATE mdm_stage t SET old_device_id = NULL
    FROM freed f WHERE t.asset_id = f.id AND t.is_primary
)
INSERT INTO mdm_changed
SELECT id, jsonb_build_object('mdm_device_id', mdm_device_id),
       jsonb_build_object('mdm_device_id', NULL)
FROM freed
"""

# The fields of an asset the MDM sets: (asset column, staged old value, staged new value).
# The last check-in is not one: it moves at every sync, and is read from mdm_device (a
# copy on the asset rewrote every asset row, and every index of it, each run, with an
# event each time that buried the asset's history).
_FACTS = (
    ("mdm_device_id", "s.old_device_id", "s.mdm_device_id"),
    ("mdm_compliance", "s.old_compliance", "s.compliance"),
    ("mdm_os_version", "s.old_os_version", "s.os_version"),
    ("mdm_user_upn", "s.old_user_upn", "s.user_upn"),
)


def _facts_json(which: int) -> str:
    """A jsonb object of the old (1) or new (2) facts, holding only those that changed."""
    pairs = ", ".join(f"'{f[0]}', {f[which]}" for f in _FACTS)
    same = ", ".join(
        f"CASE WHEN {old} IS NOT DISTINCT FROM {new} THEN '{col}' END" for col, old, new in _FACTS
    )
    return f"jsonb_build_object({pairs}) - ARRAY[{same}]::text[]"


# Only rows whose MDM facts differ are touched. The asset's version (its ETag) is not
# bumped: these are the MDM's observations, not edits, and a sync several times a day
# must not make every engineer's If-Match stale.
_APPLY_SQL = f"""
WITH changed AS (
    UPDATE asset a
    SET {", ".join(f"{col} = {new}" for col, _, new in _FACTS)}, updated_at = now()
    FROM mdm_stage s
    WHERE s.is_primary AND a.id = s.asset_id
      AND ({", ".join(old for _, old, _ in _FACTS)})
          IS DISTINCT FROM ({", ".join(new for _, _, new in _FACTS)})
    RETURNING a.id, {_facts_json(1)} AS before, {_facts_json(2)} AS after
)
INSERT INTO mdm_changed SELECT id, before, after FROM changed
"""

# One event per change, with only the fields that changed.
_EVENTS_SQL = """
SELECT 'asset' AS entity, id AS entity_id, 'mdm_synced' AS action, before, after
FROM mdm_changed ORDER BY id
"""

# Every record is kept as the MDM's latest word on its device, unless it is older than
# what is already held (a replayed old export must not turn the clock back).
_UPSERT_SQL = """
INSERT INTO mdm_device AS d (mdm_device_id, serial_number, imei, device_name, user_upn,
    compliance, last_sync_at, enrolled_at, operating_system, os_version, manufacturer, model,
    owner_type, phone_number, asset_id, last_run_id, updated_at)
SELECT mdm_device_id, serial_number, imei, device_name, user_upn, compliance, last_sync_at,
    enrolled_at, operating_system, os_version, manufacturer, model, owner_type, phone_number,
    asset_id, $1, now()
FROM mdm_stage
ON CONFLICT (mdm_device_id) DO UPDATE SET
    serial_number = EXCLUDED.serial_number, imei = EXCLUDED.imei,
    device_name = EXCLUDED.device_name, user_upn = EXCLUDED.user_upn,
    compliance = EXCLUDED.compliance, last_sync_at = EXCLUDED.last_sync_at,
    enrolled_at = EXCLUDED.enrolled_at, operating_system = EXCLUDED.operating_system,
    os_version = EXCLUDED.os_version, manufacturer = EXCLUDED.manufacturer,
    model = EXCLUDED.model, owner_type = EXCLUDED.owner_type,
    phone_number = EXCLUDED.phone_number, asset_id = EXCLUDED.asset_id,
    last_run_id = EXCLUDED.last_run_id, updated_at = now()
WHERE (EXCLUDED.last_sync_at < d.last_sync_at) IS NOT TRUE
"""


def _stage_row(r: DeviceRecord, idx: int) -> tuple[Any, ...]:
    return (
        idx,
        r.mdm_device_id,
        r.serial_number,
        r.imei,
        r.device_name,
        r.user_upn,
        r.compliance,
        r.last_sync_at,
        r.enrolled_at,
        r.operating_system,
        r.os_version,
        r.manufacturer,
        r.model,
        r.owner_type,
        r.phone_number,
    )


async def _apply_records(
    conn: asyncpg.Connection, actor: Actor, run_id: int, records: Sequence[DeviceRecord]
) -> tuple[int, int]:
    """Match and apply the batch; returns (matched, changed assets)."""
    if not records:
        return 0, 0
    await conn.execute(_STAGE_SQL)
    await conn.copy_records_to_table(
        "mdm_input",
        records=[_stage_row(r, i) for i, r in enumerate(records)],
        columns=_STAGE_COLUMNS,
    )
    await conn.execute(_MATCH_SQL)
    await conn.execute(_FREE_SQL)
    await conn.execute(_APPLY_SQL)
    await audit.record_from_query(conn, actor, _EVENTS_SQL)
    await conn.execute(_UPSERT_SQL, run_id)
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM mdm_stage WHERE asset_id IS NOT NULL) AS matched,"
        " (SELECT count(DISTINCT id) FROM mdm_changed) AS changed"
    )
    assert row is not None
    return int(row["matched"]), int(row["changed"])


async def _record_issues(
    conn: asyncpg.Connection, run_id: int, batch_no: int, rejections: Sequence[Rejection]
) -> None:
    await conn.execute(
        "DELETE FROM mdm_run_issue WHERE run_id = $1 AND batch_no = $2", run_id, batch_no
    )
    if rejections:
        await conn.copy_records_to_table(
            "mdm_run_issue",
            records=[
                (run_id, batch_no, r.index, r.mdm_device_id, r.field, r.message[:1000])
                for r in rejections
            ],
            columns=["run_id", "batch_no", "record_index", "mdm_device_id", "field", "message"],
        )


async def sync_batch(
    conn: asyncpg.Connection,
    actor: Actor,
    *,
    run_key: str,
    source: str,
    batch_no: int,
    checked: Sequence[Checked],
    final: bool = False,
    create: bool = True,
) -> Run:
    """Apply one batch of a run in the caller's transaction.

    Re-sending a batch number of an open run applies it again (a correction takes effect;
    an identical batch changes nothing) and replaces that batch's counts and issues, so
    nothing is counted twice.
    """
    _check_run_key(run_key)
    run = await _lock_run(conn, actor, run_key, source, create=create)
    records, rejections = split_checked(checked)
    matched, changed = await _apply_records(conn, actor, run["id"], records)
    await _record_issues(conn, run["id"], batch_no, rejections)
    _, per_batch, _ = _counts_of(run["counts"])
    previous = per_batch.get(str(batch_no), {})
    per_batch[str(batch_no)] = {
        "received": len(checked),
        "matched": matched,
        "unknown": len(records) - matched,
        "rejected": len(checked) - len(records),
        # Changes made by every sending of this batch (a re-send adds only what it changed).
        "changed": previous.get("changed", 0) + changed,
    }
    updated = await conn.fetchrow(
        "UPDATE mdm_run SET batches = $2, counts = jsonb_set(counts, '{batches}', $3::jsonb)"
        " WHERE id = $1 RETURNING *",
        run["id"],
        len(per_batch),
        msgspec.json.encode(per_batch).decode(),
    )
    assert updated is not None
    if final:
        await _close(conn, updated)
    log.info(
        "mdm_batch_applied",
        run=run["id"],
        batch=batch_no,
        received=len(checked),
        matched=matched,
        changed=changed,
        rejected=len(checked) - len(records),
        final=final,
    )
    return await get_run(conn, run["id"], issues_limit=0)


async def push_batch(
    conn: asyncpg.Connection,
    actor: Actor,
    *,
    run_key: str,
    batch_no: int | None,
    devices: Sequence[ManagedDevice],
    final: bool,
    issues_limit: int = 100,
) -> Run:
    """A batch pushed over the API (``POST /api/v1/mdm/sync``)."""
    if len(devices) > MAX_BATCH:
        raise TooLarge(
            f"a batch may hold at most {MAX_BATCH:,} records; this one has {len(devices):,}"
            " — split it into more batches of the same run"
        )
    _check_run_key(run_key)
    if batch_no is not None and not 1 <= batch_no <= 1_000_000:
        raise ValidationFailed.one("batch", "batch must be a number from 1 to 1000000")
    if devices and batch_no is None:
        raise ValidationFailed.one("batch", "a batch with records needs its batch number")
    if batch_no is None:
        # A closing call with no records.
        run = await _lock_run(conn, actor, run_key, MdmRunSource.PUSH, create=False)
        await _close(conn, run)
        return await get_run(conn, run["id"], issues_limit=issues_limit)
    checked = [check_device(i, d) for i, d in enumerate(devices)]
    run_ = await sync_batch(
        conn,
        actor,
        run_key=run_key,
        source=MdmRunSource.PUSH,
        batch_no=batch_no,
        checked=checked,
        final=final,
    )
    return await get_run(conn, run_.id, issues_limit=issues_limit)


async def get_run(conn: asyncpg.Connection, key: int | str, *, issues_limit: int = 100) -> Run:
    """A run by its id or its run_id (a run_id wins when both could match)."""
    text = str(key)
    as_id = int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None
    row = await conn.fetchrow(
        "SELECT * FROM mdm_run WHERE run_key = $1 OR id = $2 ORDER BY (run_key = $1) DESC LIMIT 1",
        text,
        as_id,
    )
    if row is None:
        raise NotFound("MDM run", key)
    issues: list[Issue] = []
    if issues_limit > 0:
        rows = await conn.fetch(
            "SELECT batch_no, record_index, mdm_device_id, field, message FROM mdm_run_issue"
            " WHERE run_id = $1 ORDER BY batch_no, record_index, id LIMIT $2",
            row["id"],
            min(issues_limit, MAX_ISSUES_SHOWN),
        )
        issues = [
            Issue(r["batch_no"], r["record_index"], r["mdm_device_id"], r["field"], r["message"])
            for r in rows
        ]
    return _run_of(row, issues)


async def list_runs(conn: asyncpg.Connection, page: PageRequest) -> Page[Run]:
    """Runs, newest first."""
    args: list[Any] = [page.limit + 1]
    where = ""
    if page.after_id is not None:
        args.append(page.after_id)
        where = " WHERE id < $2"
    rows = await conn.fetch(f"SELECT * FROM mdm_run{where} ORDER BY id DESC LIMIT $1", *args)
    return make_page([_run_of(r) for r in rows], page, key=lambda r: r.id)


# --- whole-run jobs: a file, or the Graph API -------------------------------------------------


async def run_job(
    actor: Actor, run_key: str, source: str, chunks: AsyncIterable[Sequence[Checked]]
) -> Run:
    """A whole run as a job: open it, apply each chunk in its own transaction, close it.

    A failure part way marks the run failed: the batches already applied stay (each was
    applied whole), nothing else is touched, and no device is treated as unseen.
    """
    async with transaction() as conn:
        await start_run(conn, actor, run_key, source)
    batch_no = 0
    try:
        async for chunk in chunks:
            batch_no += 1
            async with transaction() as conn:
                await sync_batch(
                    conn,
                    actor,
                    run_key=run_key,
                    source=source,
                    batch_no=batch_no,
                    checked=chunk,
                    create=False,
                )
        async with transaction() as conn:
            run = await _lock_run(conn, actor, run_key, source, create=False)
            await _close(conn, run)
    except Exception as exc:
        message = exc.message if isinstance(exc, FleetError) else type(exc).__name__
        async with transaction() as conn:
            await fail_run(conn, run_key, message)
        log.warning("mdm_run_failed", run_key=run_key, batches=batch_no, reason=message)
        raise
    async with transaction() as conn:
        return await get_run(conn, run_key, issues_limit=20)


async def chunk_devices(
    pages: AsyncIterable[Sequence[ManagedDevice]], size: int = PULL_BATCH
) -> AsyncIterator[list[Checked]]:
    """Pages of MDM records, checked and re-cut into batches of ``size``."""
    buffer: list[Checked] = []
    async for page in pages:
        for device in page:
            buffer.append(check_device(len(buffer), device))
            if len(buffer) == size:
                yield buffer
                buffer = []
    if buffer:
        yield buffer


class ExportRejected(FleetError):
    title = "Export file rejected"


MAX_EXPORT_BYTES: Final = 2 << 30


@contextmanager
def open_export(path: Path) -> Iterator[IO[bytes]]:
    """The export's CSV: the file itself, or the one CSV inside the MDM's zipped export."""
    try:
        if not zipfile.is_zipfile(path):
            with path.open("rb") as f:
                yield f
            return
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if m.filename.lower().endswith(".csv")]
            if len(members) != 1:
                raise ExportRejected(
                    f"the zip holds {len(members)} CSV files; the MDM export holds exactly one"
                )
            if members[0].file_size > MAX_EXPORT_BYTES:
                raise ExportRejected("the CSV inside the zip is larger than 2 GiB")
            with zf.open(members[0]) as f:
                yield f
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportRejected(f"cannot read {path.name}: {exc.__class__.__name__}") from None


def read_export(
    stream: IO[bytes], filename: str, size: int = FILE_BATCH
) -> Iterator[list[Checked]]:
    """The export's rows, checked, in batches of ``size``."""
    try:
        parsed = parse_file(stream, filename, get_profile("intune-devices"))  # type: ignore[arg-type]
        used = frozenset(h for name, h in parsed.columns.items() if name in EXPORT_FIELDS)
        buffer: list[Checked] = []
        for row in parsed:
            buffer.append(check_export_row(row, used))
            if len(buffer) == size:
                yield buffer
                buffer = []
    except FileRejected as exc:
        raise ExportRejected(exc.message) from None
    if buffer:
        yield buffer


async def sync_file(actor: Actor, path: Path, run_key: str | None = None) -> Run:
    """``fleetsvc mdm sync --file``: one run from the console export (CSV, or zipped CSV)."""
    key = run_key or new_run_key(MdmRunSource.FILE)
    with open_export(path) as stream:

        async def chunks() -> AsyncIterator[list[Checked]]:
            for chunk in read_export(stream, path.name):
                yield chunk

        return await run_job(actor, key, MdmRunSource.FILE, chunks())


# --- reconciliation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    count: int
    items: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Capacity:
    managed: int
    capacity: int
    headroom: int
    used_percent: float


@dataclass(frozen=True, slots=True)
class Reconciliation:
    scope: str
    as_of: dt.datetime
    stale_days: int
    # Devices the force no longer holds that still talk to the MDM come first.
    still_checking_in: Section
    not_in_register: Section
    not_seen: Section
    not_seen_reference: dt.datetime | None
    user_mismatches: Section
    duplicates: Section
    noncompliant_by_business_unit: Section
    capacity: Capacity


def _section(rows: Sequence[asyncpg.Record]) -> Section:
    total = int(rows[0]["total"]) if rows else 0
    items = [{k: v for k, v in r.items() if k != "total"} for r in rows]
    return Section(count=total, items=items)


def _scoped(run_id: int | None, stale_days: int) -> Filters:
    """The MDM records a report covers: one run's, or those reported within the window."""
    f = Filters()
    if run_id is None:
        f.add("d.updated_at >= now() - make_interval(days => {})", stale_days)
    else:
        f.add("d.last_run_id = {}", run_id)
    return f


async def managed_devices(
    conn: asyncpg.Connection, *, stale_days: int, run_id: int | None = None
) -> int:
    """Devices the MDM manages, which is what its licence counts: every device it reported
    within the stale window (or in one run), whether the register knows it or not."""
    f = _scoped(run_id, stale_days)
    return int(await conn.fetchval(f"SELECT count(*) FROM mdm_device d{f.where()}", *f.args))


async def _fetch(
    conn: asyncpg.Connection, sql: str, f: Filters, limit: int
) -> list[asyncpg.Record]:
    """``sql`` holds ``{where}`` and ``{limit}``; values go as parameters."""
    query = sql.format(where=f.where(), limit=f"${len(f.args) + 1}")
    rows: list[asyncpg.Record] = await conn.fetch(query, *f.args, limit)
    return rows


_STILL_CHECKING_IN = """
SELECT a.id AS asset_id, a.serial_number, a.imei, a.status,
       sc.changed_at AS status_changed_at, d.mdm_device_id, d.last_sync_at, d.user_upn,
       count(*) OVER () AS total
FROM mdm_device d JOIN asset a ON a.id = d.asset_id
LEFT JOIN LATERAL (
    SELECT max(e.occurred_at) AS changed_at FROM event e
    WHERE e.entity = 'asset' AND e.entity_id = a.id AND e.after ->> 'status' = a.status
) sc ON true
{where}
ORDER BY d.last_sync_at DESC, d.mdm_device_id LIMIT {limit}
"""

_NOT_IN_REGISTER = """
SELECT d.mdm_device_id, d.serial_number, d.imei, d.device_name, d.manufacturer, d.model,
       d.user_upn, d.last_sync_at, count(*) OVER () AS total
FROM mdm_device d
{where}
ORDER BY d.mdm_device_id LIMIT {limit}
"""

_UNIT_JOINS = """
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN install i ON i.tablet_id = a.id AND i.removed_on IS NULL
LEFT JOIN vehicle v ON v.id = i.vehicle_id
LEFT JOIN business_unit bu ON bu.id = COALESCE(p.business_unit_id, v.business_unit_id)
"""

_NOT_SEEN = f"""
SELECT a.id AS asset_id, a.serial_number, a.imei, a.mdm_device_id,
       md.last_sync_at AS mdm_last_seen_at,
       a.person_id, i.vehicle_id, bu.code AS business_unit, count(*) OVER () AS total
FROM asset a JOIN device_model m ON m.id = a.model_id
LEFT JOIN mdm_device md ON md.mdm_device_id = a.mdm_device_id
{_UNIT_JOINS}
{{where}}
ORDER BY md.last_sync_at NULLS FIRST, a.id LIMIT {{limit}}
"""

_USER_MISMATCHES = """
SELECT a.id AS asset_id, a.serial_number, d.mdm_device_id, d.user_upn AS mdm_user_upn,
       p.id AS person_id, p.upn AS register_upn, bu.code AS business_unit,
       count(*) OVER () AS total
FROM mdm_device d JOIN asset a ON a.mdm_device_id = d.mdm_device_id
JOIN person p ON p.id = a.person_id
LEFT JOIN business_unit bu ON bu.id = p.business_unit_id
{where}
ORDER BY a.id LIMIT {limit}
"""

_DUPLICATES = """
WITH s AS (SELECT d.serial_number, d.imei, d.mdm_device_id FROM mdm_device d {where}),
dup AS (
    SELECT 'serial_number' AS kind, serial_number AS value,
           array_agg(mdm_device_id ORDER BY mdm_device_id) AS mdm_device_ids
    FROM s WHERE serial_number IS NOT NULL GROUP BY serial_number HAVING count(*) > 1
    UNION ALL
    SELECT 'imei', imei, array_agg(mdm_device_id ORDER BY mdm_device_id)
    FROM s WHERE imei IS NOT NULL GROUP BY imei HAVING count(*) > 1
)
SELECT kind, value, mdm_device_ids, count(*) OVER () AS total
FROM dup ORDER BY kind, value LIMIT {limit}
"""

_NONCOMPLIANT = f"""
SELECT bu.id AS business_unit_id, bu.code AS business_unit, bu.name,
       count(*) FILTER (WHERE d.compliance = 'noncompliant') AS noncompliant,
       count(*) AS devices,
       sum(count(*) FILTER (WHERE d.compliance = 'noncompliant')) OVER () AS total
FROM mdm_device d JOIN asset a ON a.mdm_device_id = d.mdm_device_id
{_UNIT_JOINS}
{{where}}
GROUP BY bu.id, bu.code, bu.name
HAVING count(*) FILTER (WHERE d.compliance = 'noncompliant') > 0
ORDER BY noncompliant DESC, bu.code NULLS LAST LIMIT {{limit}}
"""


async def not_seen_reference(conn: asyncpg.Connection, run_id: int | None) -> dt.datetime | None:
    """The time "not seen for N days" is counted back from: when the run (or the latest
    run) closed. A run that never closed sets no reference, so it marks nothing unseen."""
    if run_id is None:
        value = await conn.fetchval("SELECT max(closed_at) FROM mdm_run WHERE status = 'closed'")
    else:
        value = await conn.fetchval(
            "SELECT closed_at FROM mdm_run WHERE id = $1 AND status = 'closed'", run_id
        )
    return value if isinstance(value, dt.datetime) else None


async def reconcile(
    conn: asyncpg.Connection,
    *,
    capacity: int,
    stale_days: int,
    limit: int = 100,
    run_id: int | None = None,
    business_unit: str | None = None,
) -> Reconciliation:
    """The reconciliation report, for one run (the devices it reported last) or now (the
    devices any run reported within the stale window). ``business_unit`` (a unit code)
    narrows the holder-based sections: not seen, user mismatches, non-compliance."""
    bu_code = business_unit.strip().upper() if business_unit else None

    f = _scoped(run_id, stale_days)
    f.add("a.status = ANY({}::text[])", list(LEFT_ESTATE))
    f.add("d.last_sync_at IS NOT NULL")
    f.add(
        "(d.last_sync_at > sc.changed_at OR d.last_sync_at >= now() - make_interval(days => {}))",
        stale_days,
    )
    still = await _fetch(conn, _STILL_CHECKING_IN, f, limit)

    f = _scoped(run_id, stale_days)
    f.add("d.asset_id IS NULL")
    f.add("NOT EXISTS (SELECT 1 FROM asset a WHERE a.serial_number = d.serial_number)")
    f.add("NOT EXISTS (SELECT 1 FROM asset a WHERE a.imei = d.imei)")
    unknown = await _fetch(conn, _NOT_IN_REGISTER, f, limit)

    reference = await not_seen_reference(conn, run_id)
    not_seen: list[asyncpg.Record] = []
    if reference is not None:
        f = Filters()
        f.add("a.status = 'deployed'")
        f.add("m.category = ANY({}::text[])", list(MDM_MANAGED))
        f.add(
            "(md.last_sync_at IS NULL"
            " OR md.last_sync_at < {}::timestamptz - make_interval(days => {}))",
            reference,
            stale_days,
        )
        if bu_code:
            f.add("bu.code = {}", bu_code)
        not_seen = await _fetch(conn, _NOT_SEEN, f, limit)

    f = _scoped(run_id, stale_days)
    f.add("d.user_upn IS NOT NULL AND p.upn IS NOT NULL AND lower(d.user_upn) <> lower(p.upn)")
    if bu_code:
        f.add("bu.code = {}", bu_code)
    mismatches = await _fetch(conn, _USER_MISMATCHES, f, limit)

    duplicates = await _fetch(conn, _DUPLICATES, _scoped(run_id, stale_days), limit)

    f = _scoped(run_id, stale_days)
    if bu_code:
        f.add("bu.code = {}", bu_code)
    noncompliant = await _fetch(conn, _NONCOMPLIANT, f, limit)

    managed = await managed_devices(conn, stale_days=stale_days, run_id=run_id)
    return Reconciliation(
        scope="run" if run_id is not None else "current",
        as_of=dt.datetime.now(dt.UTC),
        stale_days=stale_days,
        still_checking_in=_section(still),
        not_in_register=_section(unknown),
        not_seen=_section(not_seen),
        not_seen_reference=reference,
        user_mismatches=_section(mismatches),
        duplicates=_section(duplicates),
        noncompliant_by_business_unit=_section(noncompliant),
        capacity=Capacity(
            managed=managed,
            capacity=capacity,
            headroom=capacity - managed,
            used_percent=round(100 * managed / capacity, 1) if capacity else 0.0,
        ),
    )
