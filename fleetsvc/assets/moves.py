"""Moving an asset through its lifecycle: a transition a caller asks for (checked against
the lifecycle table and its rules), and ``apply_move``, which every move goes through
(transitions, installs fitted and removed): it ends what the asset leaves (an issue to a
person, a vehicle install) and starts what it enters, and records the move as an event.

Moves lock the asset row (``lock_asset``) so of two concurrent moves one wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.assets.document import Asset
from fleetsvc.assets.fields import normalised, optional_text
from fleetsvc.assets.lifecycle import check_move, check_status, move_problems
from fleetsvc.assets.lookup import ASSET, get_asset
from fleetsvc.assets.placement import location_for_move, placement_problems
from fleetsvc.auth import Actor
from fleetsvc.checks import SPACE_CHARACTERS, cell_text, documented_cell_text
from fleetsvc.errors import Conflict, FieldProblem, NotFound, StaleVersion, ValidationFailed
from fleetsvc.records import MAX_ID, RecordId, check_id
from fleetsvc.recoveries.cases import settle
from fleetsvc.vocabulary import KEPT_AT_LOCATION, VEHICLE_KIT, AssetStatus, one_of

NOT_DISPOSED = tuple(s for s in AssetStatus if s != AssetStatus.DISPOSED)


class Transition(msgspec.Struct, forbid_unknown_fields=True):
    """A move a caller asks for (``POST /assets/{id}/transitions``)."""

    to: Annotated[str, one_of(AssetStatus)]
    reason: Annotated[str, documented_cell_text(500)]
    person_id: RecordId | None = None
    certificate_ref: Annotated[str, documented_cell_text(100, required=False)] | None = None
    # Moving to in_stock, in_repair or rebuild: where it is kept (fleetsvc.assets.placement
    # says what it is when none is named).
    location_id: RecordId | None = None

    # A person only when deploying; a location only when it is kept at one; a certificate
    # only when disposing, and one (not blank) when disposing (api.bodies states these). A
    # deployment's person is not stated as required: vehicle kit fitted in a vehicle is
    # deployed with none, which the asset's category and install decide.
    OPENAPI_ALL_OF: ClassVar[list[dict[str, Any]]] = [
        {
            "anyOf": [
                {"properties": {"to": {"const": AssetStatus.DEPLOYED.value}}},
                {"properties": {"person_id": {"type": "null"}}},
            ]
        },
        {
            "anyOf": [
                {"properties": {"to": {"enum": [s.value for s in KEPT_AT_LOCATION]}}},
                {"properties": {"location_id": {"type": "null"}}},
            ]
        },
        {
            "anyOf": [
                {"properties": {"to": {"const": AssetStatus.DISPOSED.value}}},
                {"properties": {"certificate_ref": {"type": "null"}}},
            ]
        },
        {
            "anyOf": [
                {"properties": {"to": {"enum": [s.value for s in NOT_DISPOSED]}}},
                {
                    "required": ["certificate_ref"],
                    "properties": {
                        "certificate_ref": {"type": "string", "pattern": f"[^{SPACE_CHARACTERS}]"}
                    },
                },
            ]
        },
    ]


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


async def transition(
    conn: asyncpg.Connection,
    actor: Actor,
    asset_id: int,
    move: Transition,
    expected_version: int | None = None,
) -> Asset:
    """Move an asset to another status, if the lifecycle table and its rules allow it."""
    to = check_status(move.to)
    reason = normalised("reason", move.reason, lambda v: cell_text(v, 500))
    certificate_ref = move.certificate_ref
    if certificate_ref is not None:
        certificate_ref = normalised(
            "certificate_ref", certificate_ref, lambda v: optional_text(v, 100)
        )
    asset = await lock_asset(conn, asset_id)
    if expected_version is not None and asset["version"] != expected_version:
        raise StaleVersion(ASSET, asset_id, asset["version"])
    check_move(asset["status"], to)
    problems = await _what_the_move_lacks(conn, asset, to, reason, move.person_id, certificate_ref)
    problems += await placement_problems(conn, to, move.location_id)
    if problems:
        raise ValidationFailed(problems)
    await apply_move(
        conn,
        actor,
        asset,
        to,
        reason,
        person_id=move.person_id,
        certificate_ref=certificate_ref,
        location_id=move.location_id,
    )
    return await get_asset(conn, asset_id)


async def _what_the_move_lacks(
    conn: asyncpg.Connection,
    asset: asyncpg.Record,
    to: str,
    reason: str,
    person_id: int | None,
    certificate_ref: str | None,
) -> list[FieldProblem]:
    """The lifecycle's rules for this move (the table allows it): a reason, a person to
    deploy to (or a vehicle the kit is fitted in), a disposal certificate."""
    in_vehicle = False
    if to == AssetStatus.DEPLOYED and person_id is None and asset["category"] in VEHICLE_KIT:
        in_vehicle = await _active_install(conn, asset["id"]) is not None
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
    return problems


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
    location_id: int | None = None,
) -> asyncpg.Record:
    """Make a move the caller has checked: end what the asset leaves, start what it enters.

    ``asset`` is the row from ``lock_asset``. Leaving ``deployed`` ends the open
    assignment and any vehicle install (its other kit returns to stock); the first
    deployment sets the in-service date (``service_start``, else today), and the
    refresh date follows it. The asset is kept at ``location_id`` or the location
    ``fleetsvc.assets.placement`` finds, in stock, repair or rebuild; else at none.
    """
    asset_id = asset["id"]
    kept_at = await location_for_move(conn, asset, to, location_id)
    if asset["status"] == AssetStatus.DEPLOYED and to != AssetStatus.DEPLOYED:
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
        " location_id = $7, version = a.version + 1, updated_at = now()"
        " WHERE a.id = $1 RETURNING a.*",
        asset_id,
        to,
        person_id,
        service_start,
        asset["lifecycle_months"],
        certificate_ref,
        kept_at,
    )
    assert row is not None
    if to == AssetStatus.DEPLOYED and person_id is not None:
        # An issue recorded after the fact (service_start) started then, not today.
        await conn.execute(
            "INSERT INTO assignment (asset_id, person_id, started_at)"
            " VALUES ($1, $2, COALESCE($3::date::timestamptz, now()))",
            asset_id,
            person_id,
            service_start,
        )
    before, after = move_event(asset, row, to, reason, person_id)
    after.update(holder or {})
    await audit.record(conn, actor, ASSET, asset_id, "transition", before=before, after=after)
    if asset["status"] == AssetStatus.DEPLOYED and to != AssetStatus.DEPLOYED:
        await settle(conn, actor, [asset_id])  # a leaver's device back: its recovery line
    return row


def move_event(
    asset: asyncpg.Record, row: asyncpg.Record, to: str, reason: str, person_id: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A move's ``transition`` event (before, after): the status and holder, the reason, and
    the dates and certificate the move changed. One shape for one move and for many."""
    before: dict[str, Any] = {"status": asset["status"], "person_id": asset["person_id"]}
    after: dict[str, Any] = {"status": to, "person_id": person_id, "reason": reason}
    for key in ("in_service_on", "refresh_due_on", "disposal_certificate_ref", "location_id"):
        if row[key] != asset[key]:
            before[key] = asset[key]
            after[key] = row[key]
    return before, after


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
    if other["status"] == AssetStatus.DEPLOYED:
        await apply_move(
            conn,
            actor,
            other,
            AssetStatus.IN_STOCK,
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
