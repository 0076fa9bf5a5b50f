"""SIM cards: their numbers, airtime contract, and the handset each is in.

``sim.asset_id`` is the handset a SIM is fitted in now; ``sim_fitting`` keeps
every fitting with its dates. The two move together, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import Problems, contract_of_kind
from fleetsvc.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    StaleVersion,
    ValidationFailed,
    a_or_an,
)
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    MAX_ID,
    Filters,
    check_id,
    get_record,
    insert_record,
    list_page,
    update_record,
)
from fleetsvc.vocabulary import TAKES_SIM, AssetStatus, SimStatus
from importers.fields import FieldError, normalise_iccid, normalise_msisdn

SIM = "sim"


def sim_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for key, value in values.items():
        try:
            if key == "iccid":
                out[key] = normalise_iccid(str(value))
            elif key == "msisdn":
                out[key] = None if value in (None, "") else normalise_msisdn(str(value))
            elif key == "status":
                if not SimStatus.has(value):
                    raise FieldError(f"status must be one of {SimStatus.listed()}")
                out[key] = value
            elif key == "contract_id":
                if value is not None and not 1 <= value <= MAX_ID:
                    raise FieldError("contract_id is not a valid id")
                out[key] = value
            else:
                out[key] = value
        except FieldError as exc:
            problems.append(FieldProblem(key, exc.message))
    if problems:
        raise ValidationFailed(problems)
    return out


async def _check_airtime_contract(conn: asyncpg.Connection, contract_id: int | None) -> None:
    p = Problems()
    await contract_of_kind(conn, p, "contract_id", contract_id, "airtime")
    p.raise_if_any()


async def create_sim(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> asyncpg.Record:
    clean = sim_fields(values)
    await _check_airtime_contract(conn, clean.get("contract_id"))
    return await insert_record(conn, actor, table=SIM, entity=SIM, values=clean)


async def get_sim(conn: asyncpg.Connection, sim_id: int) -> asyncpg.Record:
    return await get_record(conn, SIM, SIM, check_id(SIM, sim_id))


async def update_sim(
    conn: asyncpg.Connection,
    actor: Actor,
    sim_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    clean = sim_fields(changes)
    if "contract_id" in clean:
        await _check_airtime_contract(conn, clean["contract_id"])
    return await update_record(
        conn,
        actor,
        table=SIM,
        entity=SIM,
        record_id=check_id(SIM, sim_id),
        changes=clean,
        expected_version=expected_version,
    )


async def list_sims(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    iccid: str | None = None,
    msisdn: str | None = None,
    status: str | None = None,
    contract_id: int | None = None,
    asset_id: int | None = None,
) -> Page[asyncpg.Record]:
    f = Filters()
    wanted: dict[str, Any] = {}
    if iccid is not None:
        wanted["iccid"] = iccid
    if msisdn is not None:
        wanted["msisdn"] = msisdn
    if status is not None:
        wanted["status"] = status
    for key, value in sim_fields(wanted).items():
        f.add(f"{key} = {{}}", value)
    if contract_id is not None:
        f.add("contract_id = {}", contract_id)
    if asset_id is not None:
        f.add("asset_id = {}", asset_id)
    return await list_page(conn, f"SELECT * FROM {SIM}", f, page)


async def _unfit(conn: asyncpg.Connection, actor: Actor, sim: asyncpg.Record) -> asyncpg.Record:
    """Take a SIM out of its handset: close the fitting, clear the link, record it."""
    await conn.execute(
        "UPDATE sim_fitting SET removed_at = now() WHERE sim_id = $1 AND removed_at IS NULL",
        sim["id"],
    )
    row = await conn.fetchrow(
        "UPDATE sim SET asset_id = NULL, version = version + 1, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        sim["id"],
    )
    assert row is not None
    await audit.record(
        conn,
        actor,
        SIM,
        sim["id"],
        "removed",
        before={"asset_id": sim["asset_id"]},
        after={"asset_id": None},
    )
    return row


async def fit_sim(
    conn: asyncpg.Connection,
    actor: Actor,
    sim_id: int,
    asset_id: int,
    *,
    replace: bool = False,
    expected_version: int | None = None,
) -> asyncpg.Record:
    """Fit a SIM in a handset, moving it from any handset it was in.

    A handset holding another SIM is refused (naming that SIM) unless ``replace``.
    """
    sim = await get_record(conn, SIM, SIM, check_id(SIM, sim_id), for_update=True)
    if expected_version is not None and sim["version"] != expected_version:
        raise StaleVersion(SIM, sim_id, sim["version"])
    if not 1 <= asset_id <= MAX_ID:
        raise ValidationFailed.one("asset_id", f"no asset with id {asset_id}")
    asset = await conn.fetchrow(
        "SELECT a.id, a.status, m.category FROM asset a JOIN device_model m ON m.id = a.model_id"
        " WHERE a.id = $1 FOR UPDATE OF a",
        asset_id,
    )
    if asset is None:
        raise ValidationFailed.one("asset_id", f"no asset with id {asset_id}")
    if asset["category"] not in TAKES_SIM:
        raise ValidationFailed.one(
            "asset_id", f"asset {asset_id} is {a_or_an(asset['category'])}, which takes no SIM"
        )
    if asset["status"] == AssetStatus.DISPOSED:
        raise ValidationFailed.one("asset_id", f"asset {asset_id} has been disposed of")
    if sim["status"] == "cancelled":
        raise ValidationFailed.one("status", f"SIM {sim_id} is cancelled and cannot be fitted")
    if sim["asset_id"] == asset_id:
        return sim
    other = await conn.fetchrow("SELECT * FROM sim WHERE asset_id = $1 FOR UPDATE", asset_id)
    if other is not None:
        if not replace:
            raise Conflict(
                f"asset {asset_id} already holds SIM {other['id']} (ICCID {other['iccid']});"
                ' send "replace": true to take it out',
                existing_id=other["id"],
                field="asset_id",
            )
        await _unfit(conn, actor, other)
    if sim["asset_id"] is not None:
        await conn.execute(
            "UPDATE sim_fitting SET removed_at = now() WHERE sim_id = $1 AND removed_at IS NULL",
            sim_id,
        )
    row = await conn.fetchrow(
        "UPDATE sim SET asset_id = $2, version = version + 1, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        sim_id,
        asset_id,
    )
    assert row is not None
    await conn.execute(
        "INSERT INTO sim_fitting (sim_id, asset_id) VALUES ($1, $2)", sim_id, asset_id
    )
    await audit.record(
        conn,
        actor,
        SIM,
        sim_id,
        "fitted",
        before={"asset_id": sim["asset_id"]},
        after={"asset_id": asset_id},
    )
    return row


async def remove_sim(
    conn: asyncpg.Connection, actor: Actor, sim_id: int, expected_version: int | None = None
) -> asyncpg.Record:
    sim = await get_record(conn, SIM, SIM, check_id(SIM, sim_id), for_update=True)
    if expected_version is not None and sim["version"] != expected_version:
        raise StaleVersion(SIM, sim_id, sim["version"])
    if sim["asset_id"] is None:
        raise Conflict(f"SIM {sim_id} is not fitted in a handset")
    return await _unfit(conn, actor, sim)


async def sim_history(
    conn: asyncpg.Connection, sim_id: int, page: PageRequest
) -> Page[asyncpg.Record]:
    """Every handset the SIM has been in, oldest first."""
    exists = await conn.fetchval("SELECT true FROM sim WHERE id = $1", check_id(SIM, sim_id))
    if not exists:
        raise NotFound(SIM, sim_id)
    f = Filters()
    f.add("f.sim_id = {}", sim_id)
    return await list_page(
        conn,
        "SELECT f.id, f.sim_id, f.asset_id, a.serial_number, a.imei, f.fitted_at, f.removed_at"
        " FROM sim_fitting f JOIN asset a ON a.id = f.asset_id",
        f,
        page,
        id_column="f.id",
    )
