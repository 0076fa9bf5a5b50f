"""Recording a batch of scans: every code matched, judged, recorded and answered, with the
stocktake's running counts, in one statement whatever the batch's size (``SCAN``).

A code names a device by its IMEI, the ICCID of the SIM fitted in it, its serial number or
its asset tag (tried in that order; a code two devices answer to is taken as the one kept
at this location, if one is). The answer is ``found`` (kept here), ``elsewhere`` (at
another location, with a holder, or in a status kept nowhere), ``unknown`` (no device has
it), or ``already_scanned`` (the device, or the unknown code, was scanned before in this
stocktake, or earlier in the batch: it counts once). Each scan is kept with what it was
told and who scanned it; the batch is one event, which holds counts, not codes.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, NotFound
from fleetsvc.records import check_id
from fleetsvc.stocktakes.codes import read_codes
from fleetsvc.stocktakes.documents import ScanAnswer, ScanBatch, ScanResult
from fleetsvc.stocktakes.result import counts_of
from fleetsvc.vocabulary import ScanOutcome

STOCKTAKE: Final = "stocktake"

# $1 stocktake, $2..$5 the codes and the serial, IMEI and ICCID each could be, $6 who.
# ``st`` holds the stocktake's row (FOR SHARE: a close waits for the batches in flight and a
# batch after a close finds no open stocktake, so it writes nothing).
SCAN: Final = """
WITH st AS (
    SELECT id, location_id FROM stocktake WHERE id = $1 AND status = 'open' FOR SHARE
),
input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
        WITH ORDINALITY AS u(code, serial, imei, iccid, n)
),
hits AS (
    SELECT i.n, a.id AS asset_id, 1 AS rank FROM input i JOIN asset a ON a.imei = i.imei
    UNION ALL
    SELECT i.n, s.asset_id, 2 FROM input i JOIN sim s ON s.iccid = i.iccid
    WHERE s.asset_id IS NOT NULL
    UNION ALL
    SELECT i.n, a.id, 3 FROM input i JOIN asset a ON a.serial_number = i.serial
    UNION ALL
    SELECT i.n, a.id, 4 FROM input i JOIN asset a ON a.asset_tag = i.code
),
matched AS (
    SELECT DISTINCT ON (i.n) i.n, i.code, a.id AS asset_id, a.location_id
    FROM input i CROSS JOIN st
    LEFT JOIN hits h ON h.n = i.n
    LEFT JOIN asset a ON a.id = h.asset_id
    ORDER BY i.n, (a.location_id = st.location_id) DESC NULLS LAST, h.rank, a.id
),
judged AS (
    SELECT m.n, m.code, m.asset_id,
           CASE WHEN m.asset_id IS NULL THEN 'unknown'
                WHEN m.location_id = (SELECT location_id FROM st) THEN 'found'
                ELSE 'elsewhere' END AS counted_as,
           m.k > 1
           OR (m.asset_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM stocktake_scan s
                WHERE s.stocktake_id = $1 AND s.asset_id = m.asset_id))
           OR (m.asset_id IS NULL AND EXISTS (
                SELECT 1 FROM stocktake_scan s
                WHERE s.stocktake_id = $1 AND s.asset_id IS NULL AND s.code = m.code))
           AS again
    FROM (
        SELECT matched.*, row_number() OVER (
            PARTITION BY asset_id, CASE WHEN asset_id IS NULL THEN code END ORDER BY n) AS k
        FROM matched
    ) m
),
written AS (
    INSERT INTO stocktake_scan (stocktake_id, code, asset_id, outcome, scanned_by)
    SELECT $1, j.code, j.asset_id,
           CASE WHEN j.again THEN 'already_scanned' ELSE j.counted_as END, $6
    FROM judged j ORDER BY j.n
),
keys AS (
    SELECT k.asset_id, count(*)::int AS times FROM (
        SELECT s.asset_id, s.code FROM stocktake_scan s WHERE s.stocktake_id = $1
        UNION ALL
        SELECT j.asset_id, j.code FROM judged j
    ) k
    GROUP BY k.asset_id, CASE WHEN k.asset_id IS NULL THEN k.code END
),
here AS (
    SELECT x.id FROM asset x, st WHERE x.location_id = st.location_id
),
counts AS (
    SELECT (SELECT count(*) FROM here)::int AS expected,
           COALESCE(sum(k.times), 0)::int AS scans,
           count(k.asset_id)::int AS known,
           count(*) FILTER (WHERE k.asset_id IN (SELECT id FROM here))::int AS found,
           count(*) FILTER (WHERE k.asset_id IS NULL)::int AS unknown,
           count(*) FILTER (WHERE k.times > 1)::int AS duplicates
    FROM keys k
)
SELECT j.code, CASE WHEN j.again THEN 'already_scanned' ELSE j.counted_as END AS outcome,
       j.counted_as, j.asset_id, a.serial_number, m.manufacturer || ' ' || m.model_name AS model,
       a.status, l.code AS location, COALESCE(p.display_name, v.vrm) AS held_by, c.*
FROM judged j
CROSS JOIN counts c
LEFT JOIN asset a ON a.id = j.asset_id
LEFT JOIN device_model m ON m.id = a.model_id
LEFT JOIN location l ON l.id = a.location_id
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN LATERAL (
    SELECT i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.tablet_id = a.id
    UNION ALL
    SELECT i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.dock_id = a.id
    LIMIT 1
) hv ON a.person_id IS NULL
LEFT JOIN vehicle v ON v.id = hv.vehicle_id
ORDER BY j.n
"""


async def record_scans(
    conn: asyncpg.Connection, actor: Actor, stocktake_id: int, batch: ScanBatch
) -> ScanResult:
    """Record a batch of 1 to 1,000 scanned codes and answer each; all or none of them (a
    bad code names its place in the batch; a closed stocktake is a Conflict)."""
    check_id(STOCKTAKE, stocktake_id)
    codes = read_codes(batch.codes)
    rows = await conn.fetch(
        SCAN,
        stocktake_id,
        [c.code for c in codes],
        [c.serial for c in codes],
        [c.imei for c in codes],
        [c.iccid for c in codes],
        actor.name,
    )
    if not rows:
        await _why_not_open(conn, stocktake_id)
    answers = [answer_of(r) for r in rows]
    told = {str(o): 0 for o in ScanOutcome}
    for answer in answers:
        told[answer.outcome] += 1
    await audit.record(
        conn, actor, STOCKTAKE, stocktake_id, "scanned", after={"scans": len(answers), **told}
    )
    return ScanResult(stocktake_id=stocktake_id, items=answers, counts=counts_of(rows[0]))


async def _why_not_open(conn: asyncpg.Connection, stocktake_id: int) -> None:
    row = await conn.fetchrow("SELECT status, closed_at FROM stocktake WHERE id = $1", stocktake_id)
    if row is None:
        raise NotFound(STOCKTAKE, stocktake_id)
    raise Conflict(
        f"stocktake {stocktake_id} was closed on {row['closed_at']:%d/%m/%Y at %H:%M} UTC;"
        " it takes no more scans: open a new stocktake of the location to count it again"
    )


# The latest scans and what each was told; where it counts, as the register stands now.
_RECENT: Final = """
SELECT s.code, s.outcome,
       CASE WHEN s.asset_id IS NULL THEN 'unknown'
            WHEN a.location_id = st.location_id THEN 'found' ELSE 'elsewhere' END AS counted_as,
       s.asset_id, a.serial_number, m.manufacturer || ' ' || m.model_name AS model, a.status,
       l.code AS location, COALESCE(p.display_name, v.vrm) AS held_by
FROM stocktake_scan s
JOIN stocktake st ON st.id = s.stocktake_id
LEFT JOIN asset a ON a.id = s.asset_id
LEFT JOIN device_model m ON m.id = a.model_id
LEFT JOIN location l ON l.id = a.location_id
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN LATERAL (
    SELECT i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.tablet_id = a.id
    UNION ALL
    SELECT i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.dock_id = a.id
    LIMIT 1
) hv ON a.person_id IS NULL
LEFT JOIN vehicle v ON v.id = hv.vehicle_id
WHERE s.stocktake_id = $1
ORDER BY s.id DESC LIMIT $2
"""


def answer_of(row: asyncpg.Record) -> ScanAnswer:
    return ScanAnswer(
        code=row["code"],
        outcome=row["outcome"],
        counted_as=row["counted_as"],
        asset_id=row["asset_id"],
        serial_number=row["serial_number"],
        model=row["model"],
        status=row["status"],
        location=row["location"],
        held_by=row["held_by"],
    )


async def recent_scans(
    conn: asyncpg.Connection, stocktake_id: int, limit: int = 20
) -> list[ScanAnswer]:
    """The stocktake's latest scans, newest first (what a scan page shows)."""
    return [answer_of(r) for r in await conn.fetch(_RECENT, stocktake_id, limit)]
