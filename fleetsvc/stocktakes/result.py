"""A stocktake's result: its sections' counts and lines, worked out from its scans and the
register while it is open, and read from the lines its close froze once it is closed.

Each is a few set-based statements whatever the counts (no query per device):

- ``COUNTS``: the running counts, for a stocktake's page and list.
- ``LIVE_LINES``: every device and unknown code by section, with what the register says of
  each; the close inserts them as they are into ``stocktake_item`` (``FREEZE``).
- ``result_lines``: a section's first lines (or all of them, for the CSV and XLSX), with the
  holder's name and the location's code read at the time of reading: the frozen lines name
  people by id only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg

from fleetsvc.stocktakes.documents import Section, Sections, StocktakeCounts, StocktakeLine
from fleetsvc.vocabulary import StocktakeSection

# The sections in the order the result lists them.
SECTION_ORDER: Final = "ARRAY['found','missing','elsewhere','unknown','duplicates']"

# $1 stocktake, $2 its location. A device (or an unknown code) scanned several times is one
# key; the counts are over keys, the scans over rows. A key is found when its device is
# one of those kept here (a hashed set of the location's index entries: cheaper than
# looking each scanned device up); known and not found is elsewhere.
COUNTS: Final = """
WITH keys AS (
    SELECT s.asset_id, count(*)::int AS times FROM stocktake_scan s
    WHERE s.stocktake_id = $1
    GROUP BY s.asset_id, CASE WHEN s.asset_id IS NULL THEN s.code END
),
here AS (SELECT id FROM asset WHERE location_id = $2)
SELECT (SELECT count(*) FROM here)::int AS expected,
       COALESCE(sum(k.times), 0)::int AS scans,
       count(k.asset_id)::int AS known,
       count(*) FILTER (WHERE k.asset_id IN (SELECT id FROM here))::int AS found,
       count(*) FILTER (WHERE k.asset_id IS NULL)::int AS unknown,
       count(*) FILTER (WHERE k.times > 1)::int AS duplicates
FROM keys k
"""

# $1 stocktake, $2 its location: the CTEs ``scanned`` (one row per device or unknown code
# scanned, with its first code) and ``lines`` (section, code, asset_id, times, ord).
_LINES_CTES: Final = """
scanned AS MATERIALIZED (
    SELECT s.asset_id, (array_agg(s.code ORDER BY s.id))[1] AS code, min(s.id) AS first_scan,
           count(*)::int AS times
    FROM stocktake_scan s WHERE s.stocktake_id = $1
    GROUP BY s.asset_id, CASE WHEN s.asset_id IS NULL THEN s.code END
),
lines AS (
    SELECT CASE WHEN sc.asset_id IS NULL THEN 'unknown'
                WHEN a.location_id = $2 THEN 'found' ELSE 'elsewhere' END AS section,
           sc.code, sc.asset_id, sc.times, sc.first_scan AS ord
    FROM scanned sc LEFT JOIN asset a ON a.id = sc.asset_id
    UNION ALL
    SELECT 'missing', NULL, a.id, 0, a.id FROM asset a
    WHERE a.location_id = $2 AND NOT EXISTS (SELECT 1 FROM scanned sc WHERE sc.asset_id = a.id)
    UNION ALL
    SELECT 'duplicates', sc.code, sc.asset_id, sc.times, sc.first_scan
    FROM scanned sc WHERE sc.times > 1
),
ranked AS (
    SELECT lines.*,
           row_number() OVER (PARTITION BY section ORDER BY ord, asset_id) AS k,
           count(*) OVER (PARTITION BY section) AS section_count
    FROM lines
)"""

# What the register says of each line's device (``l`` is a ``ranked`` row).
_DETAILS: Final = """
    l.section, l.code, l.asset_id, a.serial_number, a.imei, a.asset_tag,
    m.manufacturer || ' ' || m.model_name AS model, a.status, a.location_id, a.person_id,
    hv.vehicle_id, md.last_sync_at AS last_seen_at, l.times AS times_scanned"""
_DETAILS_FROM: Final = """
FROM ranked l
LEFT JOIN asset a ON a.id = l.asset_id
LEFT JOIN device_model m ON m.id = a.model_id
LEFT JOIN mdm_device md ON md.asset_id = a.id AND md.is_primary
LEFT JOIN LATERAL (
    SELECT i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.tablet_id = a.id
    UNION ALL
    SELECT i.vehicle_id FROM install i WHERE i.removed_on IS NULL AND i.dock_id = a.id
    LIMIT 1
) hv ON true"""

_ITEM_COLUMNS: Final = (
    "section, code, asset_id, serial_number, imei, asset_tag, model, status, location_id,"
    " person_id, vehicle_id, last_seen_at, times_scanned"
)

# The close: every line, as the register stands, into stocktake_item in the order shown.
FREEZE: Final = f"""
WITH {_LINES_CTES}
INSERT INTO stocktake_item (stocktake_id, {_ITEM_COLUMNS})
SELECT $1, {_DETAILS} {_DETAILS_FROM}
ORDER BY array_position({SECTION_ORDER}, l.section), l.k
"""

# The live lines ($3: how many a section shows; NULL: all), and the frozen ones ($1 the
# stocktake, $2 how many).
_LIVE_ROWS: Final = f"""
WITH {_LINES_CTES}
SELECT {_DETAILS}, NULL::text AS action, NULL::text AS note, l.k, l.section_count
{_DETAILS_FROM}
WHERE $3::int IS NULL OR l.k <= $3
"""
_FROZEN_ROWS: Final = """
SELECT * FROM (
    SELECT i.*, row_number() OVER (PARTITION BY i.section ORDER BY i.id) AS k,
           count(*) OVER (PARTITION BY i.section) AS section_count
    FROM stocktake_item i WHERE i.stocktake_id = $1
) i WHERE $2::int IS NULL OR i.k <= $2
"""
# Names and codes as they are now, around either.
_SHOWN: Final = """
SELECT r.section, r.code, r.asset_id, r.serial_number, r.imei, r.asset_tag, r.model, r.status,
       l.code AS location, r.person_id, r.vehicle_id, COALESCE(p.display_name, v.vrm) AS held_by,
       r.last_seen_at, r.times_scanned, r.action, r.note, r.section_count
FROM ({rows}) r
LEFT JOIN location l ON l.id = r.location_id
LEFT JOIN person p ON p.id = r.person_id
LEFT JOIN vehicle v ON v.id = r.vehicle_id
ORDER BY array_position({order}, r.section), r.k
"""
LIVE_RESULT: Final = _SHOWN.format(rows=_LIVE_ROWS, order=SECTION_ORDER)
FROZEN_RESULT: Final = _SHOWN.format(rows=_FROZEN_ROWS, order=SECTION_ORDER)


@dataclass(frozen=True, slots=True)
class ResultLine:
    section: str
    line: StocktakeLine


def line_of(row: asyncpg.Record) -> StocktakeLine:
    return StocktakeLine(
        code=row["code"],
        asset_id=row["asset_id"],
        serial_number=row["serial_number"],
        imei=row["imei"],
        asset_tag=row["asset_tag"],
        model=row["model"],
        status=row["status"],
        location=row["location"],
        person_id=row["person_id"],
        vehicle_id=row["vehicle_id"],
        held_by=row["held_by"],
        last_seen_at=row["last_seen_at"],
        times_scanned=row["times_scanned"],
        action=row["action"],
        note=row["note"],
    )


async def live_counts(
    conn: asyncpg.Connection, stocktake_id: int, location_id: int
) -> StocktakeCounts:
    row = await conn.fetchrow(COUNTS, stocktake_id, location_id)
    assert row is not None
    return counts_of(row)


def counts_of(row: asyncpg.Record) -> StocktakeCounts:
    """The counts from a row with COUNTS' columns (missing: expected but not found)."""
    return StocktakeCounts(
        expected=row["expected"],
        scans=row["scans"],
        found=row["found"],
        missing=row["expected"] - row["found"],
        elsewhere=row["known"] - row["found"],
        unknown=row["unknown"],
        duplicates=row["duplicates"],
    )


async def result_lines(
    conn: asyncpg.Connection,
    stocktake_id: int,
    location_id: int,
    *,
    frozen: bool,
    limit: int | None,
) -> tuple[list[ResultLine], dict[str, int]]:
    """The lines of every section (the first ``limit`` of each; None: all), in the order
    the result lists them, and each section's count."""
    if frozen:
        rows = await conn.fetch(FROZEN_RESULT, stocktake_id, limit)
    else:
        rows = await conn.fetch(LIVE_RESULT, stocktake_id, location_id, limit)
    counts = {str(r["section"]): int(r["section_count"]) for r in rows}
    return [ResultLine(r["section"], line_of(r)) for r in rows], counts


def sections_of(lines: Sequence[ResultLine], counts: dict[str, int]) -> Sections:
    by_section: dict[str, list[StocktakeLine]] = {str(s): [] for s in StocktakeSection}
    for found in lines:
        by_section[found.section].append(found.line)
    parts = {s: Section(count=counts.get(s, 0), items=by_section[s]) for s in by_section}
    return Sections(**parts)
