"""Writing off a line of a recovery case: the device will not come back, so the line closes
``written_off`` with the reason given and the device is marked ``lost`` by the same move a
transition makes (its issue to the leaver ends), in one transaction.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.assets.fields import normalised
from fleetsvc.assets.lifecycle import check_move
from fleetsvc.assets.moves import apply_move, lock_asset
from fleetsvc.auth import Actor
from fleetsvc.checks import cell_text, documented_cell_text
from fleetsvc.errors import Conflict, NotFound, ValidationFailed
from fleetsvc.records import check_id
from fleetsvc.recoveries.cases import CASE, LINE, close_if_done
from fleetsvc.recoveries.queries import RecoveryCaseDetail, get_recovery
from fleetsvc.vocabulary import AssetStatus, RecoveryLineStatus


class WriteOff(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /recoveries/{id}/lines/{line}/write-off``: why the device will not come back."""

    reason: Annotated[str, documented_cell_text(500)]


async def write_off(
    conn: asyncpg.Connection, actor: Actor, case_id: int, line_id: int, data: WriteOff
) -> RecoveryCaseDetail:
    """Write the line off and mark its device lost; the case closes if it was the last."""
    reason = normalised("reason", data.reason, lambda v: cell_text(v, 500))
    if not reason:
        raise ValidationFailed.one("reason", "say why the device is written off")
    check_id(CASE, case_id)
    check_id(LINE, line_id)
    case = await conn.fetchrow(
        "SELECT id, status FROM recovery_case WHERE id = $1 FOR UPDATE", case_id
    )
    if case is None:
        raise NotFound(CASE, case_id)
    line = await conn.fetchrow(
        "SELECT id, asset_id, status FROM recovery_line WHERE id = $1 AND case_id = $2 FOR UPDATE",
        line_id,
        case_id,
    )
    if line is None:
        raise NotFound(LINE, line_id)
    if line["status"] != RecoveryLineStatus.OPEN:
        raise Conflict(
            f"line {line_id} of recovery case {case_id} is already"
            f" {line['status'].replace('_', ' ')}"
        )
    asset = await lock_asset(conn, line["asset_id"])
    check_move(asset["status"], AssetStatus.LOST)
    await conn.execute(
        "UPDATE recovery_line SET status = 'written_off', reason = $2, closed_to = 'lost',"
        " closed_at = now(), closed_by = $3 WHERE id = $1",
        line_id,
        reason,
        actor.name,
    )
    await audit.record(
        conn,
        actor,
        LINE,
        line_id,
        RecoveryLineStatus.WRITTEN_OFF,
        before={"status": "open"},
        after={
            "status": "written_off",
            "case_id": case_id,
            "asset_id": asset["id"],
            "reason": reason,
        },
    )
    await apply_move(
        conn, actor, asset, AssetStatus.LOST, f"written off (recovery case {case_id}): {reason}"
    )
    await close_if_done(conn, actor, case_id)
    return await get_recovery(conn, case_id)
