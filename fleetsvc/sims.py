"""SIM cards: their numbers, airtime contract, and the handset each is in.

``sim.asset_id`` is the handset a SIM is fitted in now, and the SIM's row holds that open
fitting (``fitting_id``, ``fitted_at``); ``sim_fitting`` keeps the removed ones, each
written there as it is closed, in the transaction that moves the SIM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Annotated, TypeVar

import asyncpg
import msgspec

from fleetsvc import audit, identifiers
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
    RecordId,
    changes_of,
    check_id,
    get_record,
    insert_record,
    list_page,
    update_record,
)
from fleetsvc.vocabulary import (
    TAKES_SIM,
    AssetStatus,
    ContractKind,
    SimStatus,
    documented,
    one_of,
)
from importers.fields import FieldError, normalise_iccid, normalise_msisdn

SIM = "sim"


class Sim(msgspec.Struct):
    id: int
    iccid: str
    msisdn: str | None
    contract_id: int | None
    status: Annotated[str, one_of(SimStatus)]
    asset_id: int | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


Iccid = Annotated[str, documented(**identifiers.ICCID)]
Msisdn = Annotated[str, documented(**identifiers.or_empty(identifiers.MSISDN))]


class SimCreate(msgspec.Struct, forbid_unknown_fields=True):
    iccid: Iccid
    msisdn: Msisdn | None = None
    contract_id: RecordId | None = None
    status: Annotated[str, one_of(SimStatus)] = "active"


class SimUpdate(msgspec.Struct, forbid_unknown_fields=True):
    iccid: Iccid | msgspec.UnsetType = msgspec.UNSET
    msisdn: Msisdn | msgspec.UnsetType | None = msgspec.UNSET
    contract_id: RecordId | msgspec.UnsetType | None = msgspec.UNSET
    status: Annotated[str, one_of(SimStatus)] | msgspec.UnsetType = msgspec.UNSET


class SimFitting(msgspec.Struct, forbid_unknown_fields=True):
    """Fit the SIM in this handset; ``replace`` takes out a SIM already in it."""

    asset_id: RecordId
    replace: bool = False


class SimFittingRecord(msgspec.Struct):
    """One handset a SIM was in, and when."""

    id: int
    sim_id: int
    asset_id: int
    serial_number: str
    imei: str | None
    fitted_at: dt.datetime
    removed_at: dt.datetime | None


def _sim(row: asyncpg.Record) -> Sim:
    return msgspec.convert(dict(row), Sim)


# A SIM as created, or the fields a change (or a list's filters) sets: checked the same way.
S = TypeVar("S", SimCreate, SimUpdate)


def _msisdn(value: str | None) -> str | None:
    return None if value in (None, "") else normalise_msisdn(str(value))


def _status(value: str) -> str:
    if not SimStatus.has(value):
        raise FieldError(f"status must be one of {SimStatus.listed()}")
    return value


def _contract_id(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_ID:
        raise FieldError("contract_id is not a valid id")
    return value


def sim_fields(data: S) -> S:
    """A SIM's fields checked and normalised: the ICCID and MSISDN as the register keeps
    them (each problem named by its field)."""
    tidied: dict[str, object] = {}
    problems: list[FieldProblem] = []

    def check(key: str, normalise: Callable[[], object]) -> None:
        try:
            tidied[key] = normalise()
        except FieldError as exc:
            problems.append(FieldProblem(key, exc.message))

    if isinstance(data.iccid, str):
        check("iccid", partial(normalise_iccid, data.iccid))
    if not isinstance(data.msisdn, msgspec.UnsetType):
        check("msisdn", partial(_msisdn, data.msisdn))
    if not isinstance(data.contract_id, msgspec.UnsetType):
        check("contract_id", partial(_contract_id, data.contract_id))
    if isinstance(data.status, str):
        check("status", partial(_status, data.status))
    if problems:
        raise ValidationFailed(problems)
    return msgspec.structs.replace(data, **tidied)


async def _check_airtime_contract(conn: asyncpg.Connection, contract_id: int | None) -> None:
    p = Problems()
    await contract_of_kind(conn, p, "contract_id", contract_id, ContractKind.AIRTIME)
    p.raise_if_any()


async def create_sim(conn: asyncpg.Connection, actor: Actor, new: SimCreate) -> Sim:
    clean = sim_fields(new)
    await _check_airtime_contract(conn, clean.contract_id)
    values = msgspec.structs.asdict(clean)
    return _sim(await insert_record(conn, actor, table=SIM, entity=SIM, values=values))


async def get_sim(conn: asyncpg.Connection, sim_id: int) -> Sim:
    return _sim(await get_record(conn, SIM, SIM, check_id(SIM, sim_id)))


async def update_sim(
    conn: asyncpg.Connection,
    actor: Actor,
    sim_id: int,
    changes: SimUpdate,
    expected_version: int | None,
) -> Sim:
    clean = changes_of(sim_fields(changes))
    if "contract_id" in clean:
        await _check_airtime_contract(conn, clean["contract_id"])
    row = await update_record(
        conn,
        actor,
        table=SIM,
        entity=SIM,
        record_id=check_id(SIM, sim_id),
        changes=clean,
        expected_version=expected_version,
    )
    return _sim(row)


async def list_sims(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    iccid: str | None = None,
    msisdn: str | None = None,
    status: str | None = None,
    contract_id: int | None = None,
    asset_id: int | None = None,
) -> Page[Sim]:
    f = Filters()
    if msisdn is not None and not msisdn.strip():
        # In a body an empty number is none; as a filter it would match nothing.
        raise ValidationFailed.one("msisdn", "phone number is empty")
    wanted = SimUpdate(
        iccid=msgspec.UNSET if iccid is None else iccid,
        msisdn=msgspec.UNSET if msisdn is None else msisdn,
        status=msgspec.UNSET if status is None else status,
    )
    for key, value in changes_of(sim_fields(wanted)).items():
        f.add(f"{key} = {{}}", value)
    if contract_id is not None:
        f.add("contract_id = {}", contract_id)
    if asset_id is not None:
        f.add("asset_id = {}", asset_id)
    rows = await list_page(conn, f"SELECT * FROM {SIM}", f, page)
    return Page(items=[_sim(r) for r in rows.items], next_cursor=rows.next_cursor)


async def _close_fitting(conn: asyncpg.Connection, sim_id: int) -> None:
    """The SIM's open fitting (on its row) recorded as removed now; the caller then clears
    or replaces it on the row."""
    await conn.execute(
        "INSERT INTO sim_fitting (id, sim_id, asset_id, fitted_at, removed_at)"
        " SELECT fitting_id, id, asset_id, fitted_at, now() FROM sim"
        " WHERE id = $1 AND fitting_id IS NOT NULL",
        sim_id,
    )


async def _unfit(conn: asyncpg.Connection, actor: Actor, sim: asyncpg.Record) -> asyncpg.Record:
    """Take a SIM out of its handset: close the fitting, clear the link, record it."""
    await _close_fitting(conn, sim["id"])
    row = await conn.fetchrow(
        "UPDATE sim SET asset_id = NULL, fitting_id = NULL, fitted_at = NULL,"
        " version = version + 1, updated_at = now() WHERE id = $1 RETURNING *",
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


async def _lock_sim(
    conn: asyncpg.Connection, sim_id: int, expected_version: int | None
) -> asyncpg.Record:
    sim = await get_record(conn, SIM, SIM, check_id(SIM, sim_id), for_update=True)
    if expected_version is not None and sim["version"] != expected_version:
        raise StaleVersion(SIM, sim_id, sim["version"])
    return sim


async def _lock_handset(conn: asyncpg.Connection, asset_id: int) -> None:
    """The handset a SIM is to be fitted in, locked: one that takes a SIM and is not disposed
    of (a 422 on ``asset_id`` otherwise)."""
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


async def _empty_handset(
    conn: asyncpg.Connection, actor: Actor, asset_id: int, *, replace: bool
) -> None:
    """Make room in the handset: a SIM already in it is refused (naming it) unless
    ``replace``, when it is taken out."""
    other = await conn.fetchrow("SELECT * FROM sim WHERE asset_id = $1 FOR UPDATE", asset_id)
    if other is None:
        return
    if not replace:
        raise Conflict(
            f"asset {asset_id} already holds SIM {other['id']} (ICCID {other['iccid']});"
            ' send "replace": true to take it out',
            existing_id=other["id"],
            field="asset_id",
        )
    await _unfit(conn, actor, other)


async def fit_sim(
    conn: asyncpg.Connection,
    actor: Actor,
    sim_id: int,
    fitting: SimFitting,
    expected_version: int | None = None,
) -> Sim:
    """Fit a SIM in a handset, moving it from any handset it was in.

    A handset holding another SIM is refused (naming that SIM) unless ``replace``.
    """
    sim = await _lock_sim(conn, sim_id, expected_version)
    asset_id = fitting.asset_id
    await _lock_handset(conn, asset_id)
    if sim["status"] == SimStatus.CANCELLED:
        raise ValidationFailed.one("status", f"SIM {sim_id} is cancelled and cannot be fitted")
    if sim["asset_id"] == asset_id:
        return _sim(sim)
    await _empty_handset(conn, actor, asset_id, replace=fitting.replace)
    if sim["asset_id"] is not None:
        await _close_fitting(conn, sim_id)
    row = await conn.fetchrow(
        "UPDATE sim SET asset_id = $2, fitting_id = nextval('sim_fitting_id_seq'),"
        " fitted_at = now(), version = version + 1, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        sim_id,
        asset_id,
    )
    assert row is not None
    await audit.record(
        conn,
        actor,
        SIM,
        sim_id,
        "fitted",
        before={"asset_id": sim["asset_id"]},
        after={"asset_id": asset_id},
    )
    return _sim(row)


async def remove_sim(
    conn: asyncpg.Connection, actor: Actor, sim_id: int, expected_version: int | None = None
) -> Sim:
    sim = await _lock_sim(conn, sim_id, expected_version)
    if sim["asset_id"] is None:
        raise Conflict(f"SIM {sim_id} is not fitted in a handset")
    return _sim(await _unfit(conn, actor, sim))


# Every fitting, open and removed, as two arms: the open ones from the SIMs' rows (by SIM
# through sim_pkey, by handset through sim_asset_uq), the removed ones from sim_fitting
# (through its indexes by SIM and by handset); the filters on the derived table reach both
# arms. A reader of all of a SIM's or a handset's fittings selects from this, not from
# sim_fitting itself, which holds only removed fittings.
ALL_FITTINGS = (
    "SELECT fitting_id AS id, id AS sim_id, asset_id, fitted_at,"
    " NULL::timestamptz AS removed_at FROM sim WHERE fitting_id IS NOT NULL"
    " UNION ALL SELECT id, sim_id, asset_id, fitted_at, removed_at FROM sim_fitting"
)


async def sim_history(
    conn: asyncpg.Connection, sim_id: int, page: PageRequest
) -> Page[SimFittingRecord]:
    """Every handset the SIM has been in, oldest first."""
    exists = await conn.fetchval("SELECT true FROM sim WHERE id = $1", check_id(SIM, sim_id))
    if not exists:
        raise NotFound(SIM, sim_id)
    f = Filters()
    f.add("f.sim_id = {}", sim_id)
    rows = await list_page(
        conn,
        "SELECT f.id, f.sim_id, f.asset_id, a.serial_number, a.imei, f.fitted_at, f.removed_at"
        f" FROM ({ALL_FITTINGS}) f JOIN asset a ON a.id = f.asset_id",
        f,
        page,
        id_column="f.id",
    )
    items = [msgspec.convert(dict(r), SimFittingRecord) for r in rows.items]
    return Page(items=items, next_cursor=rows.next_cursor)
