"""Subject access (UK GDPR Art. 15): everything the service holds about one person.

The person record and each version of it (rebuilt from their events), the devices they
hold and held with dates and the SIMs and numbers on them, their recovery cases, the MDM's
records that name them as user, their page accounts, and every event about them or made
by them on the pages. Asking is itself an event (who asked, for whom, in what format; no
personal data). For a pseudonymised person it says so and gives what remains.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.audit import EVENT_COLUMNS, HISTORY, Event
from fleetsvc.auth import Actor
from fleetsvc.people import Person, get_person
from fleetsvc.sims import ALL_FITTINGS
from fleetsvc.subject_access.retention import pseudonymised_email
from fleetsvc.users import user_ref

REQUESTED = "subject_access_requested"
# Events on the person that are not a change to their record.
_NOT_VERSIONS = frozenset({REQUESTED, "personal_data_forgotten"})


class PersonVersion(msgspec.Struct):
    """The person record as one change left it."""

    version: int
    event_id: int
    occurred_at: dt.datetime
    actor_name: str
    action: str
    record: dict[str, Any]


class SimOnDevice(msgspec.Struct):
    sim_id: int
    iccid: str
    msisdn: str | None
    fitted_at: dt.datetime | None
    removed_at: dt.datetime | None


class HeldDevice(msgspec.Struct):
    """A device issued to them: from when to when (``until`` null: they hold it now)."""

    asset_id: int
    serial_number: str
    imei: str | None
    asset_tag: str | None
    manufacturer: str
    model_name: str
    category: str
    status_now: str
    held_from: dt.datetime | None
    held_until: dt.datetime | None
    end_reason: str | None
    sims: list[SimOnDevice]


class RecoveryCase(msgspec.Struct):
    """A leaver recovery case, as its tables hold it (every column), with its lines."""

    id: int
    status: str
    record: dict[str, Any]
    lines: list[dict[str, Any]]


class MdmRecord(msgspec.Struct):
    mdm_device_id: str
    asset_id: int | None
    device_name: str
    serial_number: str | None
    imei: str | None
    user_upn: str | None
    phone_number: str | None
    compliance: str | None
    operating_system: str | None
    os_version: str | None
    last_sync_at: dt.datetime | None
    enrolled_at: dt.datetime | None


class UserAccount(msgspec.Struct):
    """A page account in their name (its e-mail is their UPN)."""

    id: int
    email: str
    role: str
    active: bool
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    last_sign_in_at: dt.datetime | None
    sessions: int


class SubjectAccess(msgspec.Struct):
    """Everything held about one person. ``recovery_cases`` is null where the service has
    no recovery cases yet."""

    person_id: int
    generated_at: dt.datetime
    pseudonymised: bool
    pseudonymised_at: dt.datetime | None
    notice: str | None
    person: Person
    versions: list[PersonVersion]
    devices: list[HeldDevice]
    recovery_cases: list[RecoveryCase] | None
    mdm_records: list[MdmRecord]
    user_accounts: list[UserAccount]
    events_about: list[Event]
    events_by: list[Event]


def _notice(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return (
        f"This person was pseudonymised on {when.date().isoformat()} under the retention rule:"
        " their name, UPN and employee number are no longer held, anywhere. What remains"
        " (their devices, dates and events, by id) follows."
    )


async def subject_access(
    conn: asyncpg.Connection, actor: Actor, person_id: int, fmt: str
) -> SubjectAccess:
    """Gather everything held about the person and record the request, in the caller's
    transaction."""
    person = await get_person(conn, person_id)
    when = await conn.fetchval("SELECT pseudonymised_at FROM person WHERE id = $1", person_id)
    devices = await _devices(conn, person_id)
    mdm = await _mdm_records(conn, person.upn)
    accounts = await _accounts(conn, person_id, person.upn)
    about = await _events_about(conn, person_id, [d.asset_id for d in devices])
    by = await _events_by(conn, [a.id for a in accounts])
    report = SubjectAccess(
        person_id=person_id,
        generated_at=await conn.fetchval("SELECT now()"),
        pseudonymised=when is not None,
        pseudonymised_at=when,
        notice=_notice(when),
        person=person,
        versions=_versions(about, person_id),
        devices=devices,
        recovery_cases=await _recovery_cases(conn, person_id),
        mdm_records=mdm,
        user_accounts=accounts,
        events_about=about,
        events_by=by,
    )
    await audit.record(conn, actor, "person", person_id, REQUESTED, after={"format": fmt})
    return report


def _versions(events: Sequence[Event], person_id: int) -> list[PersonVersion]:
    """Each change to the record, and the record as it left it."""
    out: list[PersonVersion] = []
    state: dict[str, Any] = {}
    for e in events:
        if e.entity != "person" or e.entity_id != person_id or e.after is None:
            continue
        if e.action in _NOT_VERSIONS:
            continue
        state = {**state, **e.after}
        out.append(
            PersonVersion(len(out) + 1, e.id, e.occurred_at, e.actor_name, e.action, dict(state))
        )
    return out


_DEVICES_SQL = """
SELECT a.id AS asset_id, a.serial_number, a.imei, a.asset_tag, m.manufacturer, m.model_name,
       m.category, a.status AS status_now, g.started_at AS held_from, g.ended_at AS held_until,
       g.end_reason
FROM assignment g JOIN asset a ON a.id = g.asset_id JOIN device_model m ON m.id = a.model_id
WHERE g.person_id = $1
UNION ALL
SELECT a.id, a.serial_number, a.imei, a.asset_tag, m.manufacturer, m.model_name, m.category,
       a.status, NULL, NULL, NULL
FROM asset a JOIN device_model m ON m.id = a.model_id
WHERE a.person_id = $1
  AND NOT EXISTS (SELECT 1 FROM assignment g WHERE g.asset_id = a.id AND g.person_id = $1)
ORDER BY held_from NULLS LAST, asset_id
"""
# The SIMs their devices held: every fitting, open and removed (sims.ALL_FITTINGS).
_SIMS_SQL = f"""
SELECT f.asset_id, s.id AS sim_id, s.iccid, s.msisdn, f.fitted_at, f.removed_at
FROM ({ALL_FITTINGS}) f JOIN sim s ON s.id = f.sim_id
WHERE f.asset_id = ANY($1::int[])
UNION ALL
SELECT s.asset_id, s.id, s.iccid, s.msisdn, NULL, NULL FROM sim s
WHERE s.asset_id = ANY($1::int[])
  AND NOT EXISTS (SELECT 1 FROM ({ALL_FITTINGS}) f
                  WHERE f.sim_id = s.id AND f.asset_id = s.asset_id)
ORDER BY fitted_at NULLS LAST, sim_id
"""


def _overlaps(sim: asyncpg.Record, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    """Was the SIM in the device while they held it?"""
    fitted, removed = sim["fitted_at"], sim["removed_at"]
    if fitted is None or start is None:
        return end is None  # fitted now, with no history: only a device they hold now
    return (end is None or fitted < end) and (removed is None or removed > start)


async def _devices(conn: asyncpg.Connection, person_id: int) -> list[HeldDevice]:
    rows = await conn.fetch(_DEVICES_SQL, person_id)
    sims = await conn.fetch(_SIMS_SQL, sorted({r["asset_id"] for r in rows}))
    out = []
    for r in rows:
        start, end = r["held_from"], r["held_until"]
        fitted = [
            SimOnDevice(s["sim_id"], s["iccid"], s["msisdn"], s["fitted_at"], s["removed_at"])
            for s in sims
            if s["asset_id"] == r["asset_id"] and _overlaps(s, start, end)
        ]
        out.append(HeldDevice(**dict(r), sims=fitted))
    return out


async def _mdm_records(conn: asyncpg.Connection, upn: str | None) -> list[MdmRecord]:
    if not upn:
        return []
    rows = await conn.fetch(
        "SELECT * FROM mdm_device WHERE lower(user_upn) = lower($1) ORDER BY id", upn
    )
    return [MdmRecord(**{f: r[f] for f in MdmRecord.__struct_fields__}) for r in rows]


async def _accounts(conn: asyncpg.Connection, person_id: int, upn: str | None) -> list[UserAccount]:
    """Accounts by their UPN, or, once pseudonymised, by the pseudonym it was given."""
    like = pseudonymised_email(person_id, 0).replace("user-0", "user-%")
    rows = await conn.fetch(
        "SELECT u.id, u.email, u.role, u.active, u.created_at, u.disabled_at, u.last_sign_in_at,"
        " (SELECT count(*) FROM user_session s WHERE s.user_id = u.id) AS sessions"
        " FROM app_user u WHERE lower(u.email) = lower($1) OR u.email LIKE $2 ORDER BY u.id",
        upn or "",
        like,
    )
    return [UserAccount(**dict(r)) for r in rows]


_COLUMNS = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
# Events on their record, on devices when the event names them as holder, and on their
# page accounts; in id order.
_ABOUT_SQL = f"""
SELECT {_COLUMNS} FROM event e WHERE e.entity = 'person' AND e.entity_id = $1
UNION
SELECT {_COLUMNS} FROM event e
WHERE e.entity = 'asset' AND e.entity_id = ANY($2::int[])
  AND $1::text IN (e.before ->> 'person_id', e.after ->> 'person_id')
UNION
SELECT {_COLUMNS} FROM event e
WHERE e.entity = 'asset' AND e.entity_id IN (
        SELECT d.asset_id FROM mdm_device d JOIN person p ON lower(d.user_upn) = lower(p.upn)
        WHERE p.id = $1 AND d.is_primary)
  AND (e.before ? 'mdm_user_upn' OR e.after ? 'mdm_user_upn')
UNION
SELECT {_COLUMNS} FROM event e
WHERE e.entity = 'user' AND e.entity_id IN (
        SELECT u.id FROM app_user u JOIN person p ON lower(u.email) = lower(p.upn)
        WHERE p.id = $1 UNION SELECT u.id FROM app_user u WHERE u.email LIKE $3)
ORDER BY id
"""


# Their recovery cases' own events, and their lines' (fleetsvc.recoveries names them so).
_RECOVERY_EVENTS_SQL = f"""
SELECT {_COLUMNS} FROM event e
WHERE e.entity = 'recovery_case'
  AND e.entity_id IN (SELECT c.id FROM recovery_case c WHERE c.person_id = $1)
UNION
SELECT {_COLUMNS} FROM event e
WHERE e.entity = 'recovery_line' AND e.entity_id IN (
        SELECT l.id FROM recovery_line l JOIN recovery_case c ON c.id = l.case_id
        WHERE c.person_id = $1)
"""


async def _events_about(
    conn: asyncpg.Connection, person_id: int, asset_ids: Sequence[int]
) -> list[Event]:
    like = pseudonymised_email(person_id, 0).replace("user-0", "user-%")
    rows = list(await conn.fetch(_ABOUT_SQL, person_id, sorted(set(asset_ids)), like))
    if await conn.fetchval("SELECT to_regclass('recovery_case') IS NOT NULL"):
        rows += await conn.fetch(_RECOVERY_EVENTS_SQL, person_id)
        rows = sorted({r["id"]: r for r in rows}.values(), key=lambda r: r["id"])
    return await audit.events_of(conn, rows)


async def _events_by(conn: asyncpg.Connection, user_ids: Sequence[int]) -> list[Event]:
    """What they did on the pages, as a user (events name a user ``user:<id>``), and with
    the API tokens they made for themselves there (events name a token by its name)."""
    if not user_ids:
        return []
    tokens = await conn.fetch(
        "SELECT name FROM api_token WHERE owner_user_id = ANY($1::int[])", list(user_ids)
    )
    actors = [user_ref(u) for u in user_ids] + [t["name"] for t in tokens]
    rows = await conn.fetch(
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM {HISTORY} WHERE actor_name = ANY($1::text[])"
        " ORDER BY id",
        actors,
    )
    return await audit.events_of(conn, rows)


async def _recovery_cases(conn: asyncpg.Connection, person_id: int) -> list[RecoveryCase] | None:
    """Their recovery cases, every column; None where the tables do not exist yet."""
    if not await conn.fetchval("SELECT to_regclass('recovery_case') IS NOT NULL"):
        return None
    has_lines = await conn.fetchval("SELECT to_regclass('recovery_line') IS NOT NULL")
    lines = (
        "(SELECT jsonb_agg(to_jsonb(l) ORDER BY l.id) FROM recovery_line l WHERE l.case_id = c.id)"
        if has_lines
        else "NULL::jsonb"
    )
    rows = await conn.fetch(
        f"SELECT c.id, c.status, to_jsonb(c) AS record, {lines} AS lines"
        " FROM recovery_case c WHERE c.person_id = $1 ORDER BY c.id",
        person_id,
    )
    return [
        RecoveryCase(
            id=r["id"],
            status=r["status"],
            record=msgspec.json.decode(r["record"]),
            lines=msgspec.json.decode(r["lines"]) if r["lines"] else [],
        )
        for r in rows
    ]
