"""Registering assets: one, or a batch of up to 1000, all or nothing, with every failing
item named by its index and field. A batch is checked set-based (a few queries for the
whole batch, not one per item) and inserted in one statement with its events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.assets.document import Asset
from fleetsvc.assets.fields import (
    AssetTag,
    Day,
    Imei,
    Money,
    Notes,
    Reference,
    Serial,
    asset_fields,
    reference_problems,
)
from fleetsvc.assets.lookup import get_asset, get_assets
from fleetsvc.auth import Actor
from fleetsvc.checks import existing_ids
from fleetsvc.conflicts import unique_conflicts
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.locations import default_location_id
from fleetsvc.records import RecordId
from fleetsvc.vocabulary import CREATABLE, KEPT_AT_LOCATION, AssetStatus, one_of

MAX_BATCH = 1000


class AssetCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new asset, as a caller gives it (``POST /assets``, an item of a batch)."""

    model_id: RecordId
    serial_number: Serial
    imei: Imei | None = None
    asset_tag: AssetTag | None = None
    status: Annotated[str, one_of(CREATABLE)] = "in_stock"
    purchase_order_id: RecordId | None = None
    contract_id: RecordId | None = None
    supplier_order_ref: Reference | None = None
    delivery_ref: Reference | None = None
    unit_cost: Money | None = None
    delivered_on: Day | None = None
    refresh_due_override: Day | None = None
    replacement_cost_override: Money | None = None
    notes: Notes = ""
    # Where it is kept, arriving in stock (default: FLEETSVC_DEFAULT_LOCATION); a device
    # arriving in staging is kept at none.
    location_id: RecordId | None = None

    # A device arriving in staging is kept at no location (api.bodies states it).
    OPENAPI_ALL_OF: ClassVar[list[dict[str, Any]]] = [
        {
            "anyOf": [
                {"properties": {"status": {"const": AssetStatus.IN_STOCK.value}}},
                {"properties": {"location_id": {"type": "null"}}},
            ]
        }
    ]


# AssetCreate's fields, with the SQL type each is unnested as.
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
    ("location_id", "int"),
)

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
    # Every item has every column: its fields are an AssetCreate's, defaults included.
    columns = [[v[c] for v in items] for c, _ in _INSERT_COLUMNS]
    async with unique_conflicts(conn):
        rows = await conn.fetch(_INSERT_SQL, *columns)
    by_key = {(r["manufacturer"], r["serial_number"]): r["id"] for r in rows}
    ids = [by_key[(models[v["model_id"]]["maker"], v["serial_number"])] for v in items]
    await audit.record_from_query(conn, actor, _CREATED_EVENTS_SQL, ids)
    return ids


async def create_asset(conn: asyncpg.Connection, actor: Actor, item: AssetCreate) -> Asset:
    """Register one asset; a duplicate serial, IMEI or asset tag is a Conflict naming it."""
    values, problems = asset_fields(msgspec.structs.asdict(item))
    models, more = await reference_problems(conn, [("", values)])
    more += await _placements(conn, [("", values)])
    if problems or more:
        raise ValidationFailed([*problems, *more])
    [asset_id] = await _insert_assets(conn, actor, [values], models)
    return await get_asset(conn, asset_id)


async def create_assets(
    conn: asyncpg.Connection,
    actor: Actor,
    items: Sequence[AssetCreate | None],
    *,
    unreadable: Sequence[FieldProblem] = (),
) -> list[Asset]:
    """Register up to 1000 assets, all or nothing; every failing item is named by index.

    ``unreadable`` are the problems of items the caller could not read at all (a field of
    the wrong type, a required one missing); such an item is passed as ``None`` so that
    the others are still checked and every failing item is named in one answer.
    """
    if not items:
        raise ValidationFailed.one("items", "a batch needs at least one item")
    if len(items) > MAX_BATCH:
        raise ValidationFailed.one("items", f"a batch holds at most {MAX_BATCH} items")
    values, models, problems = await _checked_batch(conn, items)
    problems = [*unreadable, *problems]
    if problems:
        problems.sort(key=_item_order)
        raise ValidationFailed(
            problems, f"{len(problems)} problem(s) in the batch; nothing was registered"
        )
    return await get_assets(conn, await _insert_assets(conn, actor, values, models))


async def _checked_batch(
    conn: asyncpg.Connection, items: Sequence[AssetCreate | None]
) -> tuple[list[dict[str, Any]], dict[int, asyncpg.Record], list[FieldProblem]]:
    """Every item's fields normalised, the models they name, and every problem found:
    in the fields, in the records they name, and in duplicates within the batch or of
    assets already registered."""
    values: list[dict[str, Any]] = []
    problems: list[FieldProblem] = []
    for n, item in enumerate(items):
        fields = {} if item is None else msgspec.structs.asdict(item)
        v, p = asset_fields(fields, f"items.{n}.")
        values.append(v)
        problems.extend(p)
    models, more = await reference_problems(
        conn, [(f"items.{n}.", v) for n, v in enumerate(values)]
    )
    problems += more
    problems += await _placements(conn, [(f"items.{n}.", v) for n, v in enumerate(values)])
    problems += _duplicates_within(values, models)
    problems += await _duplicates_existing(conn, values, models)
    return values, models, problems


async def _placements(
    conn: asyncpg.Connection, items: Sequence[tuple[str, dict[str, Any]]]
) -> list[FieldProblem]:
    """Where each new asset is kept: the location it names, else the default one, when it
    arrives in stock; none when it arrives in staging. ``items`` are (field prefix,
    normalised fields); each one's ``location_id`` is filled in."""
    named = await existing_ids(conn, "location", (v.get("location_id") for _, v in items))
    default: int | None = None
    problems: list[FieldProblem] = []
    for prefix, v in items:
        given, status = v.get("location_id"), v.get("status")
        if status is None:  # unreadable, or a status that is already a problem
            continue
        if status not in KEPT_AT_LOCATION:
            if given is not None:
                problems.append(
                    FieldProblem(
                        f"{prefix}location_id", f"a device arriving in {status} is kept nowhere"
                    )
                )
        elif given is None:
            if default is None:
                default = await default_location_id(conn, f"{prefix}location_id")
            v["location_id"] = default
        elif given not in named:
            problems.append(FieldProblem(f"{prefix}location_id", f"no location with id {given}"))
    return problems


def _item_order(p: FieldProblem) -> tuple[int, str]:
    parts = p.field.split(".")
    return (
        int(parts[1]) if len(parts) > 1 and parts[1].isascii() and parts[1].isdigit() else -1,
        p.field,
    )
