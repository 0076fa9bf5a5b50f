"""Many lifecycle moves at once, set-based: ``moves.transition``'s rules and
``moves.apply_move``'s writes and events for a whole batch (the demo issuing 40,000
handsets; a bulk return to stores), all or none.

One move at a time costs five round trips per asset; here a batch is one lock, one UPDATE,
one INSERT of its issues, one COPY of its events. The rules are the same: the lifecycle
table (``lifecycle.check_move``), what a move lacks (``lifecycle.move_problems``), a person
to issue to who has not left. One rule is narrower: kit fitted in a vehicle leaves
``deployed`` one asset at a time (``moves.transition``), because ending its install moves
the install's other kit too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Final

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.assets.fields import optional_text
from fleetsvc.assets.lifecycle import allowed_moves, move_problems
from fleetsvc.assets.lookup import ASSET
from fleetsvc.assets.moves import move_event
from fleetsvc.auth import Actor
from fleetsvc.checks import Problems, check_each, day, given_once
from fleetsvc.errors import Conflict, TransitionRefused
from fleetsvc.locations import default_location_id
from fleetsvc.records import MAX_ID, RecordId
from fleetsvc.recoveries.cases import settle
from fleetsvc.vocabulary import KEPT_AT_LOCATION, VEHICLE_KIT, AssetStatus, one_of
from importers.fields import FieldError, clean_text

MAX_MOVES: Final = 100_000


class AssetMove(msgspec.Struct, forbid_unknown_fields=True):
    """One asset's move in a batch: ``Transition``'s fields, and the date a first issue
    put it in service (``service_start``, for issues recorded after the fact; else today)."""

    asset_id: RecordId
    to: Annotated[str, one_of(AssetStatus)]
    reason: str
    person_id: RecordId | None = None
    certificate_ref: str | None = None
    service_start: dt.date | None = None


_LOCK_MANY: Final = (
    "SELECT a.*, m.category, m.lifecycle_months,"
    " EXISTS (SELECT 1 FROM install i WHERE i.removed_on IS NULL"
    "         AND (i.tablet_id = a.id OR i.dock_id = a.id)) AS in_vehicle"
    " FROM asset a JOIN device_model m ON m.id = a.model_id"
    " WHERE a.id = ANY($1::int[]) ORDER BY a.id FOR UPDATE OF a"
)

# ``apply_move``'s UPDATE, for every move of the batch at once.
_IN_SERVICE: Final = (
    "CASE WHEN m.to_status = 'deployed'"
    " THEN COALESCE(a.in_service_on, m.service_start, current_date) ELSE a.in_service_on END"
)
_MOVE_MANY: Final = f"""
UPDATE asset a SET status = m.to_status, person_id = m.person_id,
       in_service_on = {_IN_SERVICE},
       refresh_due_on = refresh_due({_IN_SERVICE}, a.delivered_on, dm.lifecycle_months,
                                    a.refresh_due_override),
       disposal_certificate_ref = COALESCE(m.certificate_ref, a.disposal_certificate_ref),
       -- Kept where it is, else at the default location, in the statuses kept at one
       -- (fleetsvc.assets.placement: a batch does not read each asset's history).
       location_id = CASE WHEN m.to_status = ANY($7::text[])
                          THEN COALESCE(a.location_id, $6::int) END,
       version = a.version + 1, updated_at = now()
FROM unnest($1::int[], $2::text[], $3::int[], $4::date[], $5::text[])
         AS m(asset_id, to_status, person_id, service_start, certificate_ref),
     device_model dm
WHERE a.id = m.asset_id AND dm.id = a.model_id
RETURNING a.*
"""


def _tidy(p: Problems, move: dict[str, Any]) -> None:
    """A move's own fields, as ``transition`` reads them (the reason and certificate)."""
    if not 1 <= move["asset_id"] <= MAX_ID:
        p.add("asset_id", f"no asset with id {move['asset_id']}")
    if move["person_id"] is not None and not 1 <= move["person_id"] <= MAX_ID:
        p.add("person_id", f"no person with id {move['person_id']}")
    try:
        move["reason"] = clean_text(move["reason"], 500)
    except FieldError as exc:
        p.add("reason", exc.message)
    else:
        if not move["reason"]:
            p.add("reason", "say why the asset is moving")
    if move["certificate_ref"] is not None:
        try:
            move["certificate_ref"] = optional_text(move["certificate_ref"], 100)
        except FieldError as exc:
            p.add("certificate_ref", exc.message)
    if not AssetStatus.has(move["to"]):
        p.add("to", f"status must be one of {AssetStatus.listed()}")
    day(p, "service_start", move["service_start"])


async def move_assets(conn: asyncpg.Connection, actor: Actor, moves: Sequence[AssetMove]) -> int:
    """Make every move, or none: each asset once, each move one the lifecycle allows and
    with what it needs. Every problem of every move is one 422 (fields named
    ``moves.3.person_id``); a move the table refuses is a 409 naming the allowed ones, as
    for one asset. Returns the number of assets moved."""
    if not moves:
        return 0
    items = [msgspec.structs.asdict(m) for m in moves]
    p = Problems()
    if len(items) > MAX_MOVES:
        p.add("moves", f"at most {MAX_MOVES:,} moves at once")
        p.raise_if_any()
    check_each(p, "moves", items, _tidy)
    given_once(p, items, "moves", ("asset_id",))
    p.raise_if_any()
    locked = {r["id"]: r for r in await conn.fetch(_LOCK_MANY, [m["asset_id"] for m in items])}
    _refuse_what_the_table_refuses(items, locked)
    await _check_needs(conn, p, items, locked)
    p.raise_if_any()
    await _end_issues(conn, items, locked)
    kept = [str(status) for status in KEPT_AT_LOCATION]
    default = None
    if any(m["to"] in kept and locked[m["asset_id"]]["location_id"] is None for m in items):
        default = await default_location_id(conn)
    moved = {
        r["id"]: r
        for r in await conn.fetch(
            _MOVE_MANY,
            [m["asset_id"] for m in items],
            [m["to"] for m in items],
            [m["person_id"] for m in items],
            [m["service_start"] for m in items],
            [m["certificate_ref"] for m in items],
            default,
            kept,
        )
    }
    await _start_issues(conn, items)
    await audit.record_many(conn, actor, _events(items, locked, moved))
    # Leavers' devices back: their recovery lines (moves.apply_move does the same).
    await settle(conn, actor, _left_deployed(items, locked))
    return len(moved)


def _left_deployed(items: Sequence[dict[str, Any]], locked: dict[int, asyncpg.Record]) -> list[int]:
    return [
        m["asset_id"]
        for m in items
        if locked[m["asset_id"]]["status"] == AssetStatus.DEPLOYED
        and m["to"] != AssetStatus.DEPLOYED
    ]


def _refuse_what_the_table_refuses(
    items: Sequence[dict[str, Any]], locked: dict[int, asyncpg.Record]
) -> None:
    """An unknown asset is a 422; a move the lifecycle table refuses a 409, as for one."""
    p = Problems()
    for i, m in enumerate(items):
        if m["asset_id"] not in locked:
            p.add(f"moves.{i}.asset_id", f"no asset with id {m['asset_id']}")
    p.raise_if_any()
    for i, m in enumerate(items):
        asset = locked[m["asset_id"]]
        if m["to"] not in allowed_moves(asset["status"]):
            refused = TransitionRefused(asset["status"], m["to"], allowed_moves(asset["status"]))
            raise Conflict(f"moves.{i}: asset {asset['id']}: {refused.message}", field="to")
        elif asset["status"] == AssetStatus.DEPLOYED and asset["in_vehicle"]:
            raise Conflict(
                f"moves.{i}: asset {asset['id']} is fitted in a vehicle; move it on its own"
                f" (POST /api/v1/assets/{asset['id']}/transitions), which ends the install",
                field="asset_id",
            )


async def _check_needs(
    conn: asyncpg.Connection,
    p: Problems,
    items: Sequence[dict[str, Any]],
    locked: dict[int, asyncpg.Record],
) -> None:
    """What each move lacks (a person to issue to, a certificate), and people who left."""
    wanted = sorted({m["person_id"] for m in items if m["person_id"] is not None})
    people = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, active, left_on FROM person WHERE id = ANY($1::int[])", wanted
        )
    }
    for i, m in enumerate(items):
        asset = locked[m["asset_id"]]
        in_vehicle = m["to"] == AssetStatus.DEPLOYED and asset["category"] in VEHICLE_KIT
        for problem in move_problems(
            m["to"],
            category=asset["category"],
            person_id=m["person_id"],
            certificate_ref=m["certificate_ref"],
            in_vehicle=in_vehicle and asset["in_vehicle"],
        ):
            p.add(f"moves.{i}.{problem.field}", problem.message)
        person = people.get(m["person_id"]) if m["person_id"] is not None else None
        if m["person_id"] is not None and person is None:
            p.add(f"moves.{i}.person_id", f"no person with id {m['person_id']}")
        elif person is not None and not person["active"]:
            when = f" on {person['left_on']:%d/%m/%Y}" if person["left_on"] else ""
            p.add(
                f"moves.{i}.person_id",
                f"person {m['person_id']} left the force{when}; devices cannot be issued",
            )


async def _end_issues(
    conn: asyncpg.Connection, items: Sequence[dict[str, Any]], locked: dict[int, asyncpg.Record]
) -> None:
    """Assets leaving ``deployed``: their issue to a person ends (``moves._end_holding``)."""
    leaving = [
        (m["asset_id"], m["reason"][:200])
        for m in items
        if locked[m["asset_id"]]["status"] == AssetStatus.DEPLOYED
        and m["to"] != AssetStatus.DEPLOYED
    ]
    if leaving:
        await conn.execute(
            "UPDATE assignment s SET ended_at = now(), end_reason = e.reason"
            " FROM unnest($1::int[], $2::text[]) AS e(asset_id, reason)"
            " WHERE s.asset_id = e.asset_id AND s.ended_at IS NULL",
            [a for a, _ in leaving],
            [r for _, r in leaving],
        )


async def _start_issues(conn: asyncpg.Connection, items: Sequence[dict[str, Any]]) -> None:
    """Assets issued to a person: an assignment each, from their service start if given."""
    issued = [m for m in items if m["to"] == AssetStatus.DEPLOYED and m["person_id"] is not None]
    if issued:
        await conn.execute(
            "INSERT INTO assignment (asset_id, person_id, started_at)"
            " SELECT i.asset_id, i.person_id, COALESCE(i.service_start::timestamptz, now())"
            " FROM unnest($1::int[], $2::int[], $3::date[])"
            "      WITH ORDINALITY AS i(asset_id, person_id, service_start, n) ORDER BY i.n",
            [m["asset_id"] for m in issued],
            [m["person_id"] for m in issued],
            [m["service_start"] for m in issued],
        )


def _events(
    items: Sequence[dict[str, Any]],
    locked: dict[int, asyncpg.Record],
    moved: dict[int, asyncpg.Record],
) -> list[audit.EventRow]:
    events = []
    for m in items:
        asset_id = m["asset_id"]
        before, after = move_event(
            locked[asset_id], moved[asset_id], m["to"], m["reason"], m["person_id"]
        )
        events.append(audit.EventRow(ASSET, asset_id, "transition", before, after))
    return events
