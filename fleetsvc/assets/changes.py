"""Changing an asset's recorded facts (``PATCH /assets/{id}``): its model, identifiers,
where it came from, costs, dates and notes. Its status and holder change only by a move
(``fleetsvc.assets.moves``). A change to the model, delivery date or override moves the
refresh date, which is always the database's ``refresh_due``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg
import msgspec

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
from fleetsvc.assets.lookup import ASSET, get_asset
from fleetsvc.assets.moves import lock_asset
from fleetsvc.auth import Actor
from fleetsvc.errors import StaleVersion, ValidationFailed
from fleetsvc.records import RecordId, changes_of, update_record

# Changing any of these moves the refresh date.
REFRESH_INPUTS = ("model_id", "delivered_on", "refresh_due_override")


class AssetUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """The fields a PATCH changes; a field left out is left as it is."""

    model_id: RecordId | msgspec.UnsetType = msgspec.UNSET
    serial_number: Serial | msgspec.UnsetType = msgspec.UNSET
    imei: Imei | msgspec.UnsetType | None = msgspec.UNSET
    asset_tag: AssetTag | msgspec.UnsetType | None = msgspec.UNSET
    purchase_order_id: RecordId | msgspec.UnsetType | None = msgspec.UNSET
    contract_id: RecordId | msgspec.UnsetType | None = msgspec.UNSET
    supplier_order_ref: Reference | msgspec.UnsetType | None = msgspec.UNSET
    delivery_ref: Reference | msgspec.UnsetType | None = msgspec.UNSET
    unit_cost: Money | msgspec.UnsetType | None = msgspec.UNSET
    delivered_on: Day | msgspec.UnsetType | None = msgspec.UNSET
    refresh_due_override: Day | msgspec.UnsetType | None = msgspec.UNSET
    replacement_cost_override: Money | msgspec.UnsetType | None = msgspec.UNSET
    notes: Notes | msgspec.UnsetType = msgspec.UNSET


async def update_asset(
    conn: asyncpg.Connection,
    actor: Actor,
    asset_id: int,
    changes: AssetUpdate,
    expected_version: int | None,
) -> Asset:
    current = await lock_asset(conn, asset_id)
    if expected_version is not None and current["version"] != expected_version:
        raise StaleVersion(ASSET, asset_id, current["version"])
    values, problems = asset_fields(changes_of(changes))
    models, more = await reference_problems(conn, [("", values)])
    if problems or more:
        raise ValidationFailed([*problems, *more])
    lifecycle = current["lifecycle_months"]
    if "model_id" in values:
        model = models[values["model_id"]]
        values["manufacturer"] = model["maker"]
        lifecycle = model["lifecycle_months"]
    if any(k in values for k in REFRESH_INPUTS):
        values["refresh_due_on"] = await _refresh_due(conn, {**dict(current), **values}, lifecycle)
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


async def _refresh_due(
    conn: asyncpg.Connection, merged: Mapping[str, Any], lifecycle: int | None
) -> dt.date | None:
    """The refresh date the asset will have, from the database's one definition of it."""
    due: dt.date | None = await conn.fetchval(
        "SELECT refresh_due($1::date, $2::date, $3::int, $4::date)",
        merged["in_service_on"],
        merged["delivered_on"],
        lifecycle,
        merged["refresh_due_override"],
    )
    return due
