"""Applying one batch of MDM records to the register, set-based, in the caller's transaction.

COPY into a staging table, match by serial then IMEI, note the assets that let an MDM device
id go (another asset's now) and those whose MDM facts change (one event each), upsert every
record into ``mdm_device``, and keep the batch's rejected records as the run's issues. An
asset's MDM device is its primary ``mdm_device`` record (``is_primary``) and its facts are
that record's: no asset row is written. A batch is applied whole or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.logs import get_logger
from fleetsvc.mdm.checks import Checked, DeviceRecord, split_checked
from fleetsvc.mdm.runs import (
    Run,
    RunCounts,
    batch_recorded,
    check_run_key,
    close_run,
    get_run,
    lock_run,
    record_batch,
    record_issues,
    run_of,
)

log = get_logger("fleetsvc.mdm")

_FACTS_ENCODER = msgspec.json.Encoder()
APPLY_LOCK: Final = 0x6D646D6170706C79  # "mdmapply"

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
    "facts_hash",
)


# The staging tables live as long as the connection and empty at each commit: created by
# a connection's first batch, then only emptied (a second batch in the same transaction
# finds the first one's rows), so a batch adds and drops no catalog rows.
_STAGE_SQL = """
SET LOCAL client_min_messages = warning;  -- not told that the tables exist, each batch
CREATE TEMP TABLE IF NOT EXISTS mdm_input (
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
    phone_number varchar(16),
    facts_hash bytea NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS mdm_stage (
    LIKE mdm_input,
    asset_id integer,
    old_device_id varchar(64),
    old_last_seen_at timestamptz,
    old_compliance varchar(32),
    old_os_version varchar(64),
    old_user_upn varchar(254),
    held_by integer,          -- the asset whose MDM device the record's id is now
    stale boolean NOT NULL,   -- older than the record held for its id: changes nothing
    older boolean NOT NULL,
    is_primary boolean NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS mdm_changed (id integer, before jsonb, after jsonb)
    ON COMMIT DELETE ROWS;
DELETE FROM pg_temp.mdm_input;
DELETE FROM pg_temp.mdm_stage;
DELETE FROM pg_temp.mdm_changed;
"""

# Records the register already holds exactly as sent: the stored record has the same facts,
# and either it is still the primary record of the asset it was matched to (so that asset's
# facts are its facts) and that asset is still the record's best match (its maker's serial:
# nothing can match better), or it was matched to no asset and no asset has its serial or
# IMEI now. Such a record changes nothing: it is only marked as reported by this run (two
# columns of mdm_device, no index touched, so the new version stays on its page: HOT),
# which the run's reconciliation and the current one read. A record older than the one
# stored (a replayed old export), matched the same way, changes nothing and is not marked:
# the full path would skip it too (it is "stale"; the upsert keeps the newer row).
# Anything less certain (a match by IMEI or another maker's serial, an unknown device whose
# serial has since been registered) is matched again in full.
# One statement for the whole batch, its columns as arrays: no staging table and no COPY,
# so an unchanged batch costs one round trip. LATERAL: an index lookup per record (a
# thousand), never a scan of mdm_device or asset.
_UNCHANGED_SQL = """
WITH i AS (
    SELECT * FROM unnest($2::int[], $3::text[], $4::bytea[], $5::text[], $6::text[],
                         $7::text[], $8::timestamptz[])
        AS i(idx, mdm_device_id, facts_hash, serial_number, imei, manufacturer, last_sync_at)
), seen AS MATERIALIZED (
    SELECT i.idx, d.id AS device_row, d.asset_id IS NOT NULL AS matched, d.same
    FROM i
    CROSS JOIN LATERAL (
        SELECT x.id, x.asset_id, x.is_primary, x.facts_hash = i.facts_hash AS same
        FROM mdm_device x
        WHERE x.mdm_device_id = i.mdm_device_id
          AND (x.facts_hash = i.facts_hash OR x.last_sync_at > i.last_sync_at)
    ) d
    WHERE CASE WHEN d.asset_id IS NULL THEN
        NOT EXISTS (SELECT 1 FROM asset a WHERE a.serial_number = i.serial_number)
        AND NOT EXISTS (SELECT 1 FROM asset a WHERE a.imei = i.imei)
    ELSE d.is_primary AND EXISTS (
        SELECT 1 FROM asset a
        WHERE a.id = d.asset_id
          AND a.serial_number = i.serial_number AND a.manufacturer = lower(i.manufacturer))
    END
), marked AS (
    UPDATE mdm_device SET last_run_id = $1, updated_at = now()
    WHERE id = ANY(ARRAY(SELECT device_row FROM seen WHERE same))
)
SELECT idx, matched FROM seen
"""

# Each record with the asset it matches and that asset's MDM device and facts as they were
# (its primary record), in one statement: index lookups per record (a LATERAL each, so a
# batch never scans the whole register). Serial first: the same maker's serial wins,
# another maker's only if no other asset has that serial; then IMEI for records the serial
# did not match. The primary record of an asset is its latest one that is not older than
# what is already held, for the asset and for the record's own id.
_MATCH_SQL = """
INSERT INTO pg_temp.mdm_stage
SELECT m.*,
       m.asset_id IS NOT NULL AND NOT m.older AND row_number() OVER (
           PARTITION BY m.asset_id, m.older
           ORDER BY m.last_sync_at DESC NULLS LAST, m.mdm_device_id) = 1 AS is_primary
FROM (
    SELECT i.*, COALESCE(by_serial.id, by_imei.id) AS asset_id,
           cur.mdm_device_id AS old_device_id, cur.last_sync_at AS old_last_seen_at,
           cur.compliance AS old_compliance, cur.os_version AS old_os_version,
           cur.user_upn AS old_user_upn,
           CASE WHEN own.is_primary THEN own.asset_id END AS held_by,
           (i.last_sync_at < own.last_sync_at) IS TRUE AS stale,
           (i.last_sync_at < own.last_sync_at) IS TRUE
               OR (i.last_sync_at < cur.last_sync_at) IS TRUE AS older
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
        SELECT md.mdm_device_id, md.last_sync_at, md.compliance, md.os_version, md.user_upn
        FROM mdm_device md
        WHERE md.asset_id = COALESCE(by_serial.id, by_imei.id) AND md.is_primary
        LIMIT 1
    ) cur ON true
    LEFT JOIN LATERAL (
        SELECT x.asset_id, x.is_primary, x.last_sync_at FROM mdm_device x
        WHERE x.mdm_device_id = i.mdm_device_id
        LIMIT 1
    ) own ON true
) m;
-- For the plans of the statements that join it to mdm_device; the others only pass through.
ANALYZE mdm_stage (asset_id, is_primary, mdm_device_id, held_by);
"""

# An MDM device id moves to the asset this batch matched it to, or to none: the asset that
# held it lets it go (an event: its MDM device id is no more). A record is its asset's MDM
# device only while its latest word matches that asset.
_FREE_SQL = """
WITH freed AS MATERIALIZED (
    SELECT s.held_by AS id, s.mdm_device_id FROM mdm_stage s
    WHERE s.held_by IS NOT NULL AND NOT s.stale AND s.asset_id IS DISTINCT FROM s.held_by
), restaged AS (
    UPDATE mdm_stage t SET old_device_id = NULL
    FROM freed f WHERE t.asset_id = f.id AND t.is_primary
)
INSERT INTO mdm_changed
SELECT id, jsonb_build_object('mdm_device_id', mdm_device_id),
       jsonb_build_object('mdm_device_id', NULL)
FROM freed
"""

# The fields of an asset the MDM sets, as its events name them: (event field, staged old
# value, staged new value). The last check-in is not one: it moves at every sync (an event
# each time would bury the asset's history).
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


# An asset whose primary record this batch changes, or whose facts it changes, has an
# event; no asset row is written (its facts are its primary record's, upserted below). The
# asset's version (its ETag) is not bumped: these are the MDM's observations, not edits,
# and a sync several times a day must not make every engineer's If-Match stale. Its former
# primary record stops being one first (an asset has one, a unique index says so).
_APPLY_SQL = f"""
INSERT INTO mdm_changed
SELECT s.asset_id, {_facts_json(1)}, {_facts_json(2)}
FROM mdm_stage s
WHERE s.is_primary
  AND ({", ".join(old for _, old, _ in _FACTS)})
      IS DISTINCT FROM ({", ".join(new for _, _, new in _FACTS)});
UPDATE mdm_device x SET is_primary = false
WHERE x.is_primary AND x.mdm_device_id = ANY(ARRAY(
    -- by the unique id, not a join: a join hashed every primary record for each batch
    SELECT s.old_device_id FROM mdm_stage s
    WHERE s.is_primary AND s.old_device_id <> s.mdm_device_id))
"""

# One event per change, with only the fields that changed, written by one statement made
# for these events (``audit.record_from_query`` looks for every personal field of every
# entity in each event; these are asset events, whose one personal field is the MDM
# user's UPN): each UPN is stored in personal_value, owned by the person with that UPN if
# the register has one, and the event holds its reference, as ``audit`` writes them.
_UPN: Final = "mdm_user_upn"


def _with_ref(doc: str, ref: str) -> str:
    """``doc`` with its UPN replaced by a reference to the personal value ``ref``, if any."""
    pv = f"jsonb_build_object('{_UPN}', jsonb_build_object('{audit.REF}', {ref}))"
    return f"CASE WHEN {ref} IS NULL THEN {doc} ELSE {doc} || {pv} END"


# Each UPN's personal value id is drawn in the one pass over the changes (no numbering of
# the changes and joining their values back by number: two sorts and two joins a batch).
_EVENTS_SQL = f"""
WITH c AS MATERIALIZED (
    SELECT id, before, after,
           CASE WHEN before ->> '{_UPN}' IS NOT NULL THEN nextval('personal_value_id_seq') END
               AS before_pv,
           CASE WHEN after ->> '{_UPN}' IS NOT NULL THEN nextval('personal_value_id_seq') END
               AS after_pv
    FROM mdm_changed
), stored AS (
    INSERT INTO personal_value (id, person_id, field, value)
    SELECT v.pv_id,
           (SELECT p.id FROM person p WHERE lower(p.upn) = lower(v.value) ORDER BY p.id LIMIT 1),
           '{_UPN}', v.value
    FROM c CROSS JOIN LATERAL (
        VALUES (c.before_pv, c.before ->> '{_UPN}'), (c.after_pv, c.after ->> '{_UPN}')
    ) AS v(pv_id, value)
    WHERE v.pv_id IS NOT NULL
)
INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action, before, after)
SELECT $1, $2, $3, 'asset', c.id, 'mdm_synced', {_with_ref("c.before", "c.before_pv")},
       {_with_ref("c.after", "c.after_pv")}
FROM c
ORDER BY c.id
"""


async def record_events(conn: asyncpg.Connection, actor: Actor) -> int:
    """The batch's ``mdm_synced`` events, from ``mdm_changed``; returns how many."""
    result = await conn.execute(_EVENTS_SQL, actor.name, actor.role, actor.request_id)
    return int(result.split()[-1])


# Every record is kept as the MDM's latest word on its device, unless it is older than
# what is already held (a replayed old export must not turn the clock back).
_UPSERT_SQL = """
WITH upserted AS (
INSERT INTO mdm_device AS d (mdm_device_id, serial_number, imei, device_name, user_upn,
    compliance, last_sync_at, enrolled_at, operating_system, os_version, manufacturer, model,
    owner_type, phone_number, asset_id, is_primary, last_run_id, updated_at, facts_hash)
SELECT mdm_device_id, serial_number, imei, device_name, user_upn, compliance, last_sync_at,
    enrolled_at, operating_system, os_version, manufacturer, model, owner_type, phone_number,
    asset_id, is_primary, $1, now(), facts_hash
FROM mdm_stage s
ON CONFLICT (mdm_device_id) DO UPDATE SET
    serial_number = EXCLUDED.serial_number, imei = EXCLUDED.imei,
    device_name = EXCLUDED.device_name, user_upn = EXCLUDED.user_upn,
    compliance = EXCLUDED.compliance, last_sync_at = EXCLUDED.last_sync_at,
    enrolled_at = EXCLUDED.enrolled_at, operating_system = EXCLUDED.operating_system,
    os_version = EXCLUDED.os_version, manufacturer = EXCLUDED.manufacturer,
    model = EXCLUDED.model, owner_type = EXCLUDED.owner_type,
    phone_number = EXCLUDED.phone_number, asset_id = EXCLUDED.asset_id,
    is_primary = EXCLUDED.is_primary, last_run_id = EXCLUDED.last_run_id, updated_at = now(),
    facts_hash = EXCLUDED.facts_hash
WHERE (EXCLUDED.last_sync_at < d.last_sync_at) IS NOT TRUE
)
-- The batch's counts in the same round trip.
SELECT (SELECT count(*) FROM mdm_stage WHERE asset_id IS NOT NULL) AS matched,
       (SELECT count(DISTINCT id) FROM mdm_changed) AS changed
"""


def _stage_row(r: DeviceRecord, idx: int) -> tuple[object, ...]:
    facts = (
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
    # The hash of what mdm_device will hold for the record: equal hashes, equal facts.
    digest = hashlib.md5(_FACTS_ENCODER.encode(facts), usedforsecurity=False).digest()
    return (idx, r.mdm_device_id, *facts, digest)


async def _mark_unchanged(
    conn: asyncpg.Connection, run_id: int, staged: Sequence[tuple[object, ...]]
) -> tuple[set[int], int]:
    """The staged rows that change nothing (the register holds them as sent, marked as
    reported by this run, or older than what it holds): their indexes in ``staged``, and
    how many of them are matched to an asset."""
    cols = list(zip(*staged, strict=True))
    rows = await conn.fetch(
        _UNCHANGED_SQL,
        run_id,
        cols[0],  # idx
        cols[1],  # mdm_device_id
        cols[-1],  # facts_hash
        cols[2],  # serial_number
        cols[3],  # imei
        cols[11],  # manufacturer
        cols[7],  # last_sync_at
    )
    return {r["idx"] for r in rows}, sum(1 for r in rows if r["matched"])


async def _apply_records(
    conn: asyncpg.Connection, actor: Actor, run_id: int, records: Sequence[DeviceRecord]
) -> tuple[int, int]:
    """Match and apply the batch; returns (matched, changed assets)."""
    if not records:
        return 0, 0
    staged = [_stage_row(r, i) for i, r in enumerate(records)]
    unchanged, unchanged_matched = await _mark_unchanged(conn, run_id, staged)
    if len(unchanged) == len(records):
        return unchanged_matched, 0
    # Batches that change the register are applied one at a time across runs (those of one
    # run are already, under its row lock): the match reads which record is each asset's
    # MDM device, and two runs passing each other would both make one theirs.
    await conn.execute("SELECT pg_advisory_xact_lock($1)", APPLY_LOCK)
    await conn.execute(_STAGE_SQL)
    await conn.copy_records_to_table(
        "mdm_input",
        records=[row for row in staged if row[0] not in unchanged],
        columns=_STAGE_COLUMNS,
    )
    # Match, free and apply: statements without parameters, sent together in one round trip.
    await conn.execute(_MATCH_SQL + ";\n" + _FREE_SQL + ";\n" + _APPLY_SQL)
    await record_events(conn, actor)
    row = await conn.fetchrow(_UPSERT_SQL, run_id)
    assert row is not None
    return unchanged_matched + int(row["matched"]), int(row["changed"])


async def apply_batch(
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
    check_run_key(run_key)
    run = await lock_run(conn, actor, run_key, source, create=create)
    records, rejections = split_checked(checked)
    matched, changed = await _apply_records(conn, actor, run["id"], records)
    resent = batch_recorded(run, batch_no)
    await record_issues(conn, run["id"], batch_no, rejections, resent=resent)
    counts = RunCounts(
        received=len(checked),
        matched=matched,
        unknown=len(records) - matched,
        changed=changed,
        rejected=len(checked) - len(records),
    )
    updated = await record_batch(conn, run, batch_no, counts)
    if final:
        await close_run(conn, updated)
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
    if final:
        return await get_run(conn, run["id"], issues_limit=0)
    return run_of(updated)
