"""Assets: registering devices one at a time or in batches, looking them up,
changing them, and moving them through their lifecycle (issue, recovery,
repair, disposal). SIMs are in ``fleetsvc.sims`` and vehicle installs in
``fleetsvc.installs``; both move assets through ``apply_move`` here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.conflicts import unique_conflicts
from fleetsvc.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from fleetsvc.lifecycle import (
    CREATABLE,
    Category,
    Status,
    check_move,
    check_status,
    move_problems,
)
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.records import MAX_ID, Filters, check_id, list_page, update_record
from importers.fields import (
    FieldError,
    clean_text,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    normalise_vrm,
    parse_money,
    register_date,
)

MAX_BATCH = 1000
MAX_MONEY = Decimal("9999999999.99")  # numeric(12, 2)

ASSET = "asset"

# One asset with everything a caller needs to act on it, in one query: its
# model, its SIM, who or what holds it (a person, or a vehicle install), and its
# MDM record (the last check-in lives there: every sync moves it).
_ASSET_FROM = """
FROM asset a
JOIN device_model m ON m.id = a.model_id
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN sim s ON s.asset_id = a.id
LEFT JOIN LATERAL (
    SELECT i.id AS install_id, i.vehicle_id FROM install i
    WHERE i.removed_on IS NULL AND i.tablet_id = a.id
    UNION ALL
    SELECT i.id, i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.dock_id = a.id
    LIMIT 1
) h ON true
LEFT JOIN vehicle v ON v.id = h.vehicle_id
LEFT JOIN mdm_device md ON md.mdm_device_id = a.mdm_device_id"""

ASSET_SELECT = f"""
SELECT a.id, a.model_id, m.manufacturer AS model_manufacturer, m.model_name, m.category,
       a.manufacturer, a.serial_number, a.imei, a.asset_tag, a.status,
       a.person_id, p.display_name AS person_name, p.employee_number,
       h.install_id, h.vehicle_id, v.vrm, v.fleet_number,
       s.id AS sim_id, s.iccid, s.msisdn,
       a.purchase_order_id, a.contract_id, a.supplier_order_ref, a.delivery_ref, a.unit_cost,
       a.delivered_on, a.in_service_on, a.refresh_due_on, a.refresh_due_override,
       a.replacement_cost_override, a.mdm_device_id, md.last_sync_at AS mdm_last_seen_at,
       a.mdm_compliance,
       a.mdm_os_version, a.mdm_user_upn, a.disposal_certificate_ref, a.notes,
       a.version, a.created_at, a.updated_at{_ASSET_FROM}"""


def _utc_instant(col: str) -> str:
    """An instant as the API writes it (msgspec's RFC 3339): UTC with ``Z``, and six
    digits of fraction only when there is a fraction."""
    return (
        f"replace(to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        " '.000000Z', 'Z')"
    )


def _money_text(col: str) -> str:
    """Money as the API writes it: a decimal string with two places (``"289.00"``)."""
    return f"round({col}, 2)::text"


# The same asset as the API's ``Asset`` document, built by PostgreSQL as JSON
# text, so the read paths (one asset, list pages) pass it through without
# building Python objects per row. Each object is a row of named columns and
# ``row_to_json`` writes it (compact, in column order, about a quarter cheaper in
# PostgreSQL than nested ``json_build_object`` calls). Names, order, nulls and
# formats match ``api.register.Asset`` exactly; tests/api/test_assets_documents.py
# holds the two together.
_DOCUMENT_FROM = f"""
CROSS JOIN LATERAL (SELECT m.id, m.manufacturer, m.model_name, m.category) AS doc_model
CROSS JOIN LATERAL (SELECT s.id, s.iccid, s.msisdn) AS doc_sim
CROSS JOIN LATERAL (
    SELECT 'person'::text AS kind, a.person_id, p.display_name, p.employee_number,
           NULL::int AS vehicle_id, NULL::varchar AS vrm, NULL::varchar AS fleet_number,
           NULL::int AS install_id
) AS doc_person
CROSS JOIN LATERAL (
    SELECT 'vehicle'::text AS kind, NULL::int AS person_id, NULL::varchar AS display_name,
           NULL::varchar AS employee_number, h.vehicle_id, v.vrm, v.fleet_number, h.install_id
) AS doc_vehicle
CROSS JOIN LATERAL (
    SELECT a.mdm_device_id AS device_id, {_utc_instant("md.last_sync_at")} AS last_seen_at,
           a.mdm_compliance AS compliance, a.mdm_os_version AS os_version,
           a.mdm_user_upn AS user_upn
) AS doc_mdm
CROSS JOIN LATERAL (
    SELECT a.id, a.serial_number, a.manufacturer, a.imei, a.asset_tag, a.status,
           doc_model AS model,
           CASE WHEN s.id IS NOT NULL THEN doc_sim END AS sim,
           CASE WHEN a.person_id IS NOT NULL THEN doc_person
                WHEN h.install_id IS NOT NULL THEN doc_vehicle END AS holder,
           a.purchase_order_id, a.contract_id, a.supplier_order_ref, a.delivery_ref,
           {_money_text("a.unit_cost")} AS unit_cost,
           a.delivered_on, a.in_service_on, a.refresh_due_on, a.refresh_due_override,
           {_money_text("a.replacement_cost_override")} AS replacement_cost_override,
           CASE WHEN a.mdm_device_id IS NOT NULL THEN doc_mdm END AS mdm,
           a.disposal_certificate_ref, a.notes, a.version,
           {_utc_instant("a.created_at")} AS created_at,
           {_utc_instant("a.updated_at")} AS updated_at
) AS doc"""

# Filters and ORDER BY go after this, as after ASSET_SELECT.
DOCUMENT_SELECT = f"SELECT a.id, a.version, row_to_json(doc) AS doc{_ASSET_FROM}{_DOCUMENT_FROM}"

# Fields a caller may give when registering an asset, and which of them PATCH may change.
CREATE_FIELDS = (
    "model_id",
    "serial_number",
    "imei",
    "asset_tag",
    "status",
    "purchase_order_id",
    "contract_id",
    "supplier_order_ref",
    "delivery_ref",
    "unit_cost",
    "delivered_on",
    "refresh_due_override",
    "replacement_cost_override",
    "notes",
)
UPDATE_FIELDS = tuple(f for f in CREATE_FIELDS if f != "status")
# Changing any of these moves the refresh date.
REFRESH_INPUTS = ("model_id", "delivered_on", "refresh_due_override")


# --- validation -----------------------------------------------------------------------------


def _optional_text(value: Any, max_len: int) -> str | None:
    if value is None:
        return None
    text = clean_text(str(value), max_len)
    return text or None


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount = parse_money(value)
    if amount > MAX_MONEY:
        raise FieldError("amount is too large")
    return amount


def strict_imei(value: str) -> str:
    """The API is strict: a 15-digit, Luhn-valid IMEI (no check digit is guessed)."""
    imei, warning = normalise_imei(value)
    if warning is not None:
        raise FieldError("IMEI must be 15 digits; this has 14")
    return imei


def asset_fields(
    item: Mapping[str, Any], prefix: str = ""
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Normalise one asset's fields; every problem is named by its (prefixed) field."""
    out: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for key, value in item.items():
        try:
            if key == "serial_number":
                out[key] = normalise_serial(str(value))
            elif key == "imei":
                out[key] = None if value in (None, "") else strict_imei(str(value))
            elif key == "asset_tag":
                out[key] = _optional_text(value, 32)
            elif key in ("supplier_order_ref", "delivery_ref"):
                out[key] = _optional_text(value, 64)
            elif key in ("unit_cost", "replacement_cost_override"):
                out[key] = _money(value)
            elif key == "notes":
                out[key] = clean_text("" if value is None else str(value), 10_000)
            elif key == "status":
                if value not in CREATABLE:
                    raise FieldError(f"a new asset's status must be one of {', '.join(CREATABLE)}")
                out[key] = value
            elif key in ("delivered_on", "refresh_due_override"):
                out[key] = None if value is None else register_date(value)
            elif key in ("model_id", "purchase_order_id", "contract_id"):
                if value is not None and not 1 <= int(value) <= MAX_ID:
                    raise FieldError(f"{key} is not a valid id")
                out[key] = value
            else:
                out[key] = value
        except FieldError as exc:
            problems.append(FieldProblem(f"{prefix}{key}", exc.message))
    if "model_id" in item and item["model_id"] is None:
        problems.append(FieldProblem(f"{prefix}model_id", "model_id is required"))
    return out, problems


async def _existing_ids(
    conn: asyncpg.Connection, table: str, ids: Iterable[int | None]
) -> set[int]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return set()
    rows = await conn.fetch(f"SELECT id FROM {table} WHERE id = ANY($1::int[])", wanted)
    return {r["id"] for r in rows}


async def _models(conn: asyncpg.Connection, ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    wanted = sorted({i for i in ids if i is not None})
    rows = await conn.fetch(
        "SELECT id, lower(btrim(manufacturer)) AS maker, category, lifecycle_months"
        " FROM device_model WHERE id = ANY($1::int[])",
        wanted,
    )
    return {r["id"]: r for r in rows}


async def _reference_problems(
    conn: asyncpg.Connection, items: Sequence[tuple[str, Mapping[str, Any]]]
) -> tuple[dict[int, asyncpg.Record], list[FieldProblem]]:
    """Check the model, contract and purchase order each item names exist (3 queries)."""
    models = await _models(conn, (v["model_id"] for _, v in items if "model_id" in v))
    contracts = await _existing_ids(conn, "contract", (v.get("contract_id") for _, v in items))
    orders = await _existing_ids(
        conn, "purchase_order", (v.get("purchase_order_id") for _, v in items)
    )
    problems = []
    for prefix, v in items:
        if v.get("model_id") is not None and v["model_id"] not in models:
            problems.append(
                FieldProblem(f"{prefix}model_id", f"no device model with id {v['model_id']}")
            )
        if v.get("contract_id") is not None and v["contract_id"] not in contracts:
            problems.append(
                FieldProblem(f"{prefix}contract_id", f"no contract with id {v['contract_id']}")
            )
        if v.get("purchase_order_id") is not None and v["purchase_order_id"] not in orders:
            problems.append(
                FieldProblem(
                    f"{prefix}purchase_order_id",
                    f"no purchase order with id {v['purchase_order_id']}",
                )
            )
    return models, problems


# --- reading --------------------------------------------------------------------------------


async def get_asset(conn: asyncpg.Connection, asset_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(f"{ASSET_SELECT} WHERE a.id = $1", check_id(ASSET, asset_id))
    if row is None:
        raise NotFound(ASSET, asset_id)
    return row


@dataclass(frozen=True, slots=True)
class AssetDocument:
    """One asset as the API's JSON document (see ``DOCUMENT_SELECT``), and its version."""

    version: int
    json: str


async def get_asset_document(conn: asyncpg.Connection, asset_id: int) -> AssetDocument:
    """The read path of ``GET /assets/{id}``: one query, the document built by PostgreSQL."""
    row = await conn.fetchrow(f"{DOCUMENT_SELECT} WHERE a.id = $1", check_id(ASSET, asset_id))
    if row is None:
        raise NotFound(ASSET, asset_id)
    return AssetDocument(row["version"], row["doc"])


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
    refresh_due_before: dt.date | None = None
    q: str | None = None


# Assets fitted (as tablet or dock) in a vehicle now; {0} is the vehicle condition.
_IN_VEHICLE = (
    "a.id IN (SELECT unnest(ARRAY[i.tablet_id, i.dock_id]) FROM install i"
    " WHERE i.removed_on IS NULL AND i.vehicle_id {0})"
)


def _normalised(field: str, value: str, normalise: Any) -> Any:
    try:
        return normalise(value)
    except FieldError as exc:
        raise ValidationFailed.one(field, exc.message) from None


def asset_filters(flt: AssetFilter) -> Filters:
    """The WHERE clauses for a list; each filter is answered through an index."""
    f = Filters()
    if flt.category is not None:
        if flt.category not in Category.ALL:
            raise ValidationFailed.one(
                "category", f"category must be one of {', '.join(Category.ALL)}"
            )
        f.add("a.model_id IN (SELECT id FROM device_model WHERE category = {})", flt.category)
    if flt.status is not None:
        f.add("a.status = {}", check_status(flt.status, "status"))
    if flt.model_id is not None:
        f.add("a.model_id = {}", flt.model_id)
    if flt.serial is not None:
        f.add("a.serial_number = {}", _normalised("serial", flt.serial, normalise_serial))
    if flt.imei is not None:
        imei = _normalised("imei", flt.imei, normalise_imei)[0]
        f.add("a.imei = {}", imei)
    if flt.msisdn is not None:
        msisdn = _normalised("msisdn", flt.msisdn, normalise_msisdn)
        f.add("a.id = (SELECT asset_id FROM sim WHERE msisdn = {})", msisdn)
    if flt.asset_tag is not None:
        f.add("a.asset_tag = {}", flt.asset_tag.strip())
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
        vrm = _normalised("vrm", flt.vrm, normalise_vrm)
        f.add(_IN_VEHICLE.format("= (SELECT id FROM vehicle WHERE vrm = {0})"), vrm)
    if flt.fleet_number is not None:
        f.add(
            _IN_VEHICLE.format("= (SELECT id FROM vehicle WHERE fleet_number = {0})"),
            flt.fleet_number.strip().upper(),  # stored upper-cased
        )
    if flt.contract_id is not None:
        f.add("a.contract_id = {}", flt.contract_id)
    if flt.business_unit is not None:
        f.add(
            "a.id IN (SELECT x.id FROM asset x JOIN person p ON p.id = x.person_id"
            " JOIN business_unit b ON b.id = p.business_unit_id WHERE b.code = {0}"
            " UNION ALL SELECT unnest(ARRAY[i.tablet_id, i.dock_id]) FROM install i"
            " JOIN vehicle v ON v.id = i.vehicle_id JOIN business_unit b"
            " ON b.id = v.business_unit_id WHERE i.removed_on IS NULL AND b.code = {0})",
            flt.business_unit.strip().upper(),
        )
    if flt.refresh_due_before is not None:
        f.add("a.refresh_due_on < {}", flt.refresh_due_before)
    if flt.q is not None and flt.q.strip():
        _add_search(f, flt.q.strip())
    return f


def _add_search(f: Filters, text: str) -> None:
    """Free text: an exact match on any identifier, each looked up through its own index."""
    parts: list[str] = []

    def add(sql: str, value: Any) -> None:
        f.args.append(value)
        parts.append(sql.format(f"${len(f.args)}"))

    def attempt(normalise: Any) -> Any:
        try:
            return normalise(text)
        except FieldError:
            return None

    serial = attempt(normalise_serial)
    if serial:
        add("SELECT id FROM asset WHERE serial_number = {}", serial)
    imei = attempt(strict_imei)
    if imei:
        add("SELECT id FROM asset WHERE imei = {}", imei)
    add("SELECT id FROM asset WHERE asset_tag = {}", text)
    msisdn = attempt(normalise_msisdn)
    if msisdn:
        add("SELECT asset_id FROM sim WHERE msisdn = {}", msisdn)
    # Fleet and employee numbers are stored upper-cased.
    vehicle_keys = [text, text.upper()]
    vrm = attempt(normalise_vrm)
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


# A page found by a broad filter (status, category, model, contract, business
# unit, refresh date, or none) is read in two statements, in one snapshot: the
# ids of the page, then their documents. PostgreSQL plans a filtered
# ``ORDER BY id LIMIT $n`` afresh on every execution (rightly: a generic plan
# could walk the whole table for a rare status), and planning the documents'
# joins cost more than running them. The ids query is cheap to plan; the
# documents-by-id query settles on one generic plan (primary-key lookups, right
# for any page). A lookup by a unique key (IMEI, serial, number, holder, free
# text) stays one statement: PostgreSQL keeps a generic plan for it already, and
# two statements would cost a custom plan for a one-element id list.
PAGE_IDS_SELECT = "SELECT a.id FROM asset a"
DOCUMENTS_BY_ID = f"{DOCUMENT_SELECT} WHERE a.id = ANY($1::int[]) ORDER BY a.id"
_BROAD_FILTERS = (
    "category",
    "status",
    "model_id",
    "contract_id",
    "business_unit",
    "refresh_due_before",
)


def _is_lookup(flt: AssetFilter) -> bool:
    """The filter names one asset, holder or search term (a handful of rows at most)."""
    return any(
        getattr(flt, name) is not None
        for name in AssetFilter.__dataclass_fields__
        if name not in _BROAD_FILTERS
    )


def _snapshot(conn: asyncpg.Connection) -> AbstractAsyncContextManager[Any]:
    """Several reads that see one snapshot (a caller's transaction, if it has one)."""
    if conn.is_in_transaction():
        return nullcontext()
    return conn.transaction(isolation="repeatable_read", readonly=True)


async def _document_page(
    conn: asyncpg.Connection, filters: Filters, page: PageRequest, *, lookup: bool
) -> Page[str]:
    if lookup:
        rows = await list_page(conn, DOCUMENT_SELECT, filters, page, id_column="a.id")
        return Page(items=[r["doc"] for r in rows.items], next_cursor=rows.next_cursor)
    async with _snapshot(conn):
        ids = await list_page(conn, PAGE_IDS_SELECT, filters, page, id_column="a.id")
        docs = await conn.fetch(DOCUMENTS_BY_ID, [r["id"] for r in ids.items]) if ids.items else []
    return Page(items=[r["doc"] for r in docs], next_cursor=ids.next_cursor)


async def list_assets(conn: asyncpg.Connection, flt: AssetFilter, page: PageRequest) -> Page[str]:
    """A page of assets as the API's JSON documents (see ``DOCUMENT_SELECT``)."""
    return await _document_page(conn, asset_filters(flt), page, lookup=_is_lookup(flt))


async def list_person_assets(
    conn: asyncpg.Connection, person_id: int, page: PageRequest
) -> Page[str]:
    """What a person holds now (the leaver checklist), as the API's JSON documents."""
    exists = await conn.fetchval(
        "SELECT true FROM person WHERE id = $1", check_id("person", person_id)
    )
    if not exists:
        raise NotFound("person", person_id)
    f = Filters()
    f.add("a.person_id = {}", person_id)
    return await _document_page(conn, f, page, lookup=True)


# --- registering ----------------------------------------------------------------------------

_INSERT_COLUMNS = (
    ("model_id", "int"),
    ("serial_number", "text"),
    ("imei", "text"),
    ("asset_tag", "text"),
    ("status", "text"),
    ("purchase_order_id", "int"),
    ("contract_id", "int"),
    ("supplier_order_ref", "text"),
    ("delivery_ref", "text"),
    ("unit_cost", "numeric"),
    ("delivered_on", "date"),
    ("refresh_due_override", "date"),
    ("replacement_cost_override", "numeric"),
    ("notes", "text"),
)
_DEFAULTS: dict[str, Any] = {"status": Status.IN_STOCK, "notes": ""}

# Every asset in one statement: the maker is the model's and the refresh date the
# database's one definition of it.
_INSERT_SQL = (
    f"INSERT INTO asset (manufacturer, refresh_due_on, {', '.join(c for c, _ in _INSERT_COLUMNS)})"
    " SELECT lower(btrim(m.manufacturer)),"
    " refresh_due(NULL, u.delivered_on, m.lifecycle_months, u.refresh_due_override),"
    f" {', '.join('u.' + c for c, _ in _INSERT_COLUMNS)}"
    " FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(_INSERT_COLUMNS))
    + f") WITH ORDINALITY AS u({', '.join(c for c, _ in _INSERT_COLUMNS)}, n)"
    " JOIN device_model m ON m.id = u.model_id ORDER BY u.n"
    " RETURNING id, manufacturer, serial_number"
)

_CREATED_EVENTS_SQL = (
    "SELECT 'asset' AS entity, a.id AS entity_id, 'created' AS action, NULL::jsonb AS before,"
    " jsonb_strip_nulls(to_jsonb(a)) - ARRAY['id', 'version', 'created_at', 'updated_at']"
    " AS after FROM asset a WHERE a.id = ANY($1::int[]) ORDER BY a.id"
)


def _duplicates_within(
    items: Sequence[Mapping[str, Any]], models: Mapping[int, Any]
) -> list[FieldProblem]:
    problems = []
    seen: dict[tuple[str, Any], int] = {}
    for n, v in enumerate(items):
        keys: list[tuple[str, Any]] = []
        model = models.get(v.get("model_id", -1))
        if v.get("serial_number") and model is not None:
            keys.append(("serial_number", (model["maker"], v["serial_number"])))
        if v.get("imei"):
            keys.append(("imei", v["imei"]))
        if v.get("asset_tag"):
            keys.append(("asset_tag", v["asset_tag"]))
        for field, key in keys:
            first = seen.setdefault((field, key), n)
            if first != n:
                label = field.replace("_", " ")
                problems.append(
                    FieldProblem(
                        f"items.{n}.{field}",
                        f"the same {label} is in items.{first} of this batch",
                    )
                )
    return problems


async def _duplicates_existing(
    conn: asyncpg.Connection, items: Sequence[Mapping[str, Any]], models: Mapping[int, Any]
) -> list[FieldProblem]:
    """Items that clash with assets already registered: one query for the whole batch."""
    makers = [models[v["model_id"]]["maker"] if v.get("model_id") in models else "" for v in items]
    serials = [v.get("serial_number") or "" for v in items]
    imeis = [v["imei"] for v in items if v.get("imei")]
    tags = [v["asset_tag"] for v in items if v.get("asset_tag")]
    rows = await conn.fetch(
        "SELECT 'serial_number' AS field, a.manufacturer || '/' || a.serial_number AS key, a.id"
        " FROM asset a JOIN unnest($1::text[], $2::text[]) AS u(maker, serial)"
        " ON a.manufacturer = u.maker AND a.serial_number = u.serial"
        " UNION ALL SELECT 'imei', imei, id FROM asset WHERE imei = ANY($3::text[])"
        " UNION ALL SELECT 'asset_tag', asset_tag, id FROM asset WHERE asset_tag = ANY($4::text[])",
        makers,
        serials,
        imeis,
        tags,
    )
    existing = {(r["field"], r["key"]): r["id"] for r in rows}
    problems = []
    for n, v in enumerate(items):
        checks = [
            ("serial_number", f"{makers[n]}/{serials[n]}"),
            ("imei", v.get("imei")),
            ("asset_tag", v.get("asset_tag")),
        ]
        for field, key in checks:
            found = existing.get((field, key))
            if found is not None:
                problems.append(
                    FieldProblem(
                        f"items.{n}.{field}",
                        f"an asset with this {field.replace('_', ' ')} is already registered"
                        f" (id {found})",
                    )
                )
    return problems


async def _insert_assets(
    conn: asyncpg.Connection,
    actor: Actor,
    items: Sequence[Mapping[str, Any]],
    models: Mapping[int, asyncpg.Record],
) -> list[int]:
    """Insert validated items set-based and record their events set-based; ids in item order."""
    columns = [[{**_DEFAULTS, **v}.get(c) for v in items] for c, _ in _INSERT_COLUMNS]
    async with unique_conflicts(conn):
        rows = await conn.fetch(_INSERT_SQL, *columns)
    by_key = {(r["manufacturer"], r["serial_number"]): r["id"] for r in rows}
    ids = [by_key[(models[v["model_id"]]["maker"], v["serial_number"])] for v in items]
    await audit.record_from_query(conn, actor, _CREATED_EVENTS_SQL, ids)
    return ids


async def create_asset(
    conn: asyncpg.Connection, actor: Actor, item: Mapping[str, Any]
) -> asyncpg.Record:
    """Register one asset; a duplicate serial, IMEI or asset tag is a Conflict naming it."""
    values, problems = asset_fields(item)
    models, more = await _reference_problems(conn, [("", values)])
    if problems or more:
        raise ValidationFailed([*problems, *more])
    [asset_id] = await _insert_assets(conn, actor, [values], models)
    return await get_asset(conn, asset_id)


async def create_assets(
    conn: asyncpg.Connection,
    actor: Actor,
    items: Sequence[Mapping[str, Any]],
    *,
    unreadable: Sequence[FieldProblem] = (),
) -> list[asyncpg.Record]:
    """Register up to 1000 assets, all or nothing; every failing item is named by index.

    ``unreadable`` are the problems of items the caller could not read at all (a field of
    the wrong type, a required one missing); such an item is passed as ``{}`` so that the
    others are still checked and every failing item is named in one answer.
    """
    if not items:
        raise ValidationFailed.one("items", "a batch needs at least one item")
    if len(items) > MAX_BATCH:
        raise ValidationFailed.one("items", f"a batch holds at most {MAX_BATCH} items")
    values: list[dict[str, Any]] = []
    problems: list[FieldProblem] = list(unreadable)
    for n, item in enumerate(items):
        v, p = asset_fields(item, f"items.{n}.")
        values.append(v)
        problems.extend(p)
    models, more = await _reference_problems(
        conn, [(f"items.{n}.", v) for n, v in enumerate(values)]
    )
    problems += more
    problems += _duplicates_within(values, models)
    problems += await _duplicates_existing(conn, values, models)
    if problems:
        problems.sort(key=_item_order)
        raise ValidationFailed(
            problems, f"{len(problems)} problem(s) in the batch; nothing was registered"
        )
    ids = await _insert_assets(conn, actor, values, models)
    rows = await conn.fetch(f"{ASSET_SELECT} WHERE a.id = ANY($1::int[])", ids)
    by_id = {r["id"]: r for r in rows}
    return [by_id[i] for i in ids]


def _item_order(p: FieldProblem) -> tuple[int, str]:
    parts = p.field.split(".")
    return (
        int(parts[1]) if len(parts) > 1 and parts[1].isascii() and parts[1].isdigit() else -1,
        p.field,
    )


# --- changing -------------------------------------------------------------------------------

_LOCK_SQL = (
    "SELECT a.*, m.category, m.lifecycle_months FROM asset a"
    " JOIN device_model m ON m.id = a.model_id WHERE a.id = $1 FOR UPDATE OF a"
)


async def lock_asset(conn: asyncpg.Connection, asset_id: int) -> asyncpg.Record:
    """The asset row, locked until the transaction ends, with its model's category and lifecycle."""
    row = await conn.fetchrow(_LOCK_SQL, check_id(ASSET, asset_id))
    if row is None:
        raise NotFound(ASSET, asset_id)
    return row


async def update_asset(
    conn: asyncpg.Connection,
    actor: Actor,
    asset_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    current = await lock_asset(conn, asset_id)
    if expected_version is not None and current["version"] != expected_version:
        raise StaleVersion(ASSET, asset_id, current["version"])
    values, problems = asset_fields(changes)
    models, more = await _reference_problems(conn, [("", values)])
    if problems or more:
        raise ValidationFailed([*problems, *more])
    lifecycle = current["lifecycle_months"]
    if "model_id" in values:
        model = models[values["model_id"]]
        values["manufacturer"] = model["maker"]
        lifecycle = model["lifecycle_months"]
    if any(k in values for k in REFRESH_INPUTS):
        merged = {**dict(current), **values}
        values["refresh_due_on"] = await conn.fetchval(
            "SELECT refresh_due($1::date, $2::date, $3::int, $4::date)",
            merged["in_service_on"],
            merged["delivered_on"],
            lifecycle,
            merged["refresh_due_override"],
        )
    await update_record(
        conn,
        actor,
        table=ASSET,
        entity=ASSET,
        record_id=asset_id,
        changes=values,
        expected_version=expected_version,
    )
    return await get_asset(conn, asset_id)


# --- lifecycle ------------------------------------------------------------------------------


async def transition(
    conn: asyncpg.Connection,
    actor: Actor,
    asset_id: int,
    *,
    to: str,
    reason: str,
    person_id: int | None = None,
    certificate_ref: str | None = None,
    expected_version: int | None = None,
) -> asyncpg.Record:
    """Move an asset to another status, if the lifecycle table and its rules allow it."""
    check_status(to)
    reason = _normalised("reason", reason, lambda v: clean_text(v, 500))
    if certificate_ref is not None:
        certificate_ref = _normalised(
            "certificate_ref", certificate_ref, lambda v: _optional_text(v, 100)
        )
    asset = await lock_asset(conn, asset_id)
    if expected_version is not None and asset["version"] != expected_version:
        raise StaleVersion(ASSET, asset_id, asset["version"])
    check_move(asset["status"], to)
    in_vehicle = False
    if to == Status.DEPLOYED and person_id is None and asset["category"] in Category.VEHICLE_KIT:
        in_vehicle = await _active_install(conn, asset_id) is not None
    problems = move_problems(
        to,
        category=asset["category"],
        person_id=person_id,
        certificate_ref=certificate_ref,
        in_vehicle=in_vehicle,
    )
    if not reason:
        problems.insert(0, FieldProblem("reason", "say why the asset is moving"))
    if person_id is not None and not problems:
        problems += await _person_problems(conn, person_id)
    if problems:
        raise ValidationFailed(problems)
    await apply_move(
        conn, actor, asset, to, reason, person_id=person_id, certificate_ref=certificate_ref
    )
    return await get_asset(conn, asset_id)


async def _person_problems(conn: asyncpg.Connection, person_id: int) -> list[FieldProblem]:
    if not 1 <= person_id <= MAX_ID:
        return [FieldProblem("person_id", f"no person with id {person_id}")]
    person = await conn.fetchrow("SELECT active, left_on FROM person WHERE id = $1", person_id)
    if person is None:
        return [FieldProblem("person_id", f"no person with id {person_id}")]
    if not person["active"]:
        when = f" on {person['left_on']:%d/%m/%Y}" if person["left_on"] else ""
        return [
            FieldProblem(
                "person_id", f"person {person_id} left the force{when}; devices cannot be issued"
            )
        ]
    return []


async def _active_install(conn: asyncpg.Connection, asset_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM install WHERE removed_on IS NULL AND (tablet_id = $1 OR dock_id = $1)",
        asset_id,
    )
    return row


async def apply_move(
    conn: asyncpg.Connection,
    actor: Actor,
    asset: asyncpg.Record,
    to: str,
    reason: str,
    *,
    person_id: int | None = None,
    certificate_ref: str | None = None,
    service_start: dt.date | None = None,
    holder: Mapping[str, Any] | None = None,
) -> asyncpg.Record:
    """Make a move the caller has checked: end what the asset leaves, start what it enters.

    ``asset`` is the row from ``lock_asset``. Leaving ``deployed`` ends the open
    assignment and any vehicle install (its other kit returns to stock); the first
    deployment sets the in-service date (``service_start``, else today), and the
    refresh date follows it.
    """
    asset_id = asset["id"]
    if asset["status"] == Status.DEPLOYED and to != Status.DEPLOYED:
        await _end_holding(conn, actor, asset, to, reason)
    in_service = (
        "CASE WHEN $2::text = 'deployed' THEN COALESCE(a.in_service_on, $4::date, current_date)"
        " ELSE a.in_service_on END"
    )
    row = await conn.fetchrow(
        f"UPDATE asset a SET status = $2::text, person_id = $3, in_service_on = {in_service},"
        f" refresh_due_on = refresh_due({in_service}, a.delivered_on, $5::int,"
        " a.refresh_due_override),"
        " disposal_certificate_ref = COALESCE($6, a.disposal_certificate_ref),"
        " version = a.version + 1, updated_at = now() WHERE a.id = $1 RETURNING a.*",
        asset_id,
        to,
        person_id,
        service_start,
        asset["lifecycle_months"],
        certificate_ref,
    )
    assert row is not None
    if to == Status.DEPLOYED and person_id is not None:
        await conn.execute(
            "INSERT INTO assignment (asset_id, person_id) VALUES ($1, $2)", asset_id, person_id
        )
    before: dict[str, Any] = {"status": asset["status"], "person_id": asset["person_id"]}
    after: dict[str, Any] = {"status": to, "person_id": person_id, "reason": reason}
    for key in ("in_service_on", "refresh_due_on", "disposal_certificate_ref"):
        if row[key] != asset[key]:
            before[key] = asset[key]
            after[key] = row[key]
    after.update(holder or {})
    await audit.record(conn, actor, ASSET, asset_id, "transition", before=before, after=after)
    return row


async def _end_holding(
    conn: asyncpg.Connection, actor: Actor, asset: asyncpg.Record, to: str, reason: str
) -> None:
    """The asset leaves ``deployed``: its issue to a person ends, and so does its install."""
    await conn.execute(
        "UPDATE assignment SET ended_at = now(), end_reason = $2"
        " WHERE asset_id = $1 AND ended_at IS NULL",
        asset["id"],
        reason[:200],
    )
    install = await _active_install(conn, asset["id"])
    if install is None:
        return
    await close_install(conn, actor, install["id"], "recovered", None)
    partner = install["dock_id"] if install["tablet_id"] == asset["id"] else install["tablet_id"]
    if partner is None:
        return
    other = await lock_asset(conn, partner)
    if other["status"] == Status.DEPLOYED:
        await apply_move(
            conn,
            actor,
            other,
            Status.IN_STOCK,
            f"install {install['job_reference']} ended when asset {asset['id']} moved to {to}",
        )


async def close_install(
    conn: asyncpg.Connection,
    actor: Actor,
    install_id: int,
    reason: str,
    removed_on: dt.date | None,
) -> asyncpg.Record:
    """End an install (the kit's own moves are the caller's)."""
    row = await conn.fetchrow(
        "UPDATE install SET removed_on = COALESCE($2::date, current_date), removal_reason = $3,"
        " version = version + 1, updated_at = now() WHERE id = $1 AND removed_on IS NULL"
        " RETURNING *",
        install_id,
        removed_on,
        reason,
    )
    if row is None:
        raise Conflict(f"install {install_id} has already been removed")
    await audit.record(
        conn,
        actor,
        "install",
        install_id,
        "removed",
        before={"removed_on": None, "removal_reason": None},
        after={
            "removed_on": row["removed_on"],
            "removal_reason": reason,
            "vehicle_id": row["vehicle_id"],
            "tablet_id": row["tablet_id"],
            "dock_id": row["dock_id"],
        },
    )
    return row


# --- history --------------------------------------------------------------------------------

_HISTORY_SQL = f"""
SELECT {", ".join(audit.EVENT_COLUMNS)} FROM event
WHERE ((entity = 'asset' AND entity_id = $1)
    OR (entity = 'install' AND entity_id = ANY(ARRAY(
        SELECT id FROM install WHERE tablet_id = $1
        UNION ALL SELECT id FROM install WHERE dock_id = $1)))
    OR (entity = 'sim' AND entity_id = ANY(ARRAY(
        SELECT DISTINCT sim_id FROM sim_fitting WHERE asset_id = $1))
        AND (before ->> 'asset_id' = $1::text OR after ->> 'asset_id' = $1::text)))
  AND id > $2
ORDER BY id LIMIT $3"""


async def asset_history(
    conn: asyncpg.Connection, asset_id: int, page: PageRequest
) -> Page[dict[str, Any]]:
    """The asset's whole life, oldest first: its own events, its installs' and its SIMs'."""
    exists = await conn.fetchval("SELECT true FROM asset WHERE id = $1", check_id(ASSET, asset_id))
    if not exists:
        raise NotFound(ASSET, asset_id)
    rows = await conn.fetch(_HISTORY_SQL, asset_id, page.after_id or 0, page.limit + 1)
    items = await audit.decode_events(conn, rows)
    return make_page(items, page, key=lambda e: int(e["id"]))
