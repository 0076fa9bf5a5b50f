"""A large statement's check of a reference to an asset or a SIM reads the parents by key when
the keys lie in a narrow range of them, not the whole parent table (issue 15).

``fk_check_references`` (migration 2026-12-04T09:00) checks a statement of more than 100 rows
in one query: per reference, the distinct keys (``k``), the parents found (``p``: ``parent.id
IN (SELECT k FROM k)``), the others locked (``l``). The delivery runs with ``enable_nestloop``
off (``apply_deliveries.apply``: what it reads was just inserted and cannot be counted), so
each ``p`` was a hash join over a sequential scan of the whole parent table. A delivery's SIMs
name the 29,737 assets the same statement inserted, and the SIMs' check read every asset of
the register to find them: on a register of 300,000 handsets the SIM trigger took 93 ms
(EXPLAIN ANALYZE through auto_explain; 39 ms on an empty register), its scan of ``asset``
29 ms of it, growing with the register, not with the delivery.

Now, for a reference to ``asset`` or ``sim`` (the parents a statement inserts along with their
children: a delivery's handsets, then their SIMs; every other parent a delivery names is one
of a handful of rows), the trigger first reads the least and greatest key its rows name and
the span of the parent's keys (one pass over the rows, two reads of the ends of the parent's
primary key). When the rows' range is under a quarter of that span, ``p`` and ``l`` also say
``parent.id BETWEEN lo AND hi``, with the two numbers written into the query, so the planner
reads that range through the primary key. The same rows (every key lies between its least and
greatest; on UPDATE the range is every row's, a superset of the changed keys'; a parent's key
never changes, so a lock's recheck of a row updated meanwhile sees the same key), so the same
counts, the same locks and the same errors. Otherwise the query is the one before.

On a register of 300,000 handsets a delivery's SIMs' check reads the 29,737 assets it names
and no other: their ``p`` 29 ms of scan → 12 ms (an index range of 29,737 entries), for 2.7 ms
of bounds. A delivery of 300,000 into an empty register, whose keys are the whole table, reads
it whole as before and pays the pass for the bounds (30-60 ms of a 5 s write).

Found on the way, and why the function's body has no comment: the first forms of this change
(the range always read, then both forms in the query behind one-time filters) cost a
150-row INSERT 0.2 to 1.3 ms more (planning their larger query), and even a form that ran
the very same query as before cost 0.35 ms more per statement. The cause was the function's
length: once its row in ``pg_proc`` passes PostgreSQL's inline limit (about 2 kB, when the
compressed source is moved out of the row) every call pays for it. The function of
migration 2026-12-04T09:00 padded with comment lines: a row of 2,009 bytes, the trigger of a
150-row INSERT 1.25 ms (best of 100); 2,042 bytes, 1.70 ms. The body below is 4,600
characters without its comments, its row 1,918 bytes (before: 1,927), and a 150-row INSERT
of assets costs what it did (3.04 ms, best of 7).

Measured: the rolled-back write of a 29,737-handset delivery (the INSERT of bench.imports
write_cost), interleaved with main on one server, backend CPU best / median of 12: on a
register of 300,000 handsets 0.536 / 0.572 s → 0.520 / 0.546 s; on an empty register
0.486 / 0.522 s → 0.500 / 0.526 s (the same within the machine's noise); a delivery of
300,000 into an empty register, best / median of 5, 4.79 / 4.88 s → 4.91 / 4.98 s (noise at
load 3, and the bounds' pass).

Where the rest of that write goes (the same measurements; nothing below was changed, each
tried and measured as said). EXPLAIN (ANALYZE, BUFFERS, WAL) of the 29,737-row INSERT on an
empty register: 571 ms, the assets' INSERT about 255 ms (a heap row and nine B-tree entries
each), the SIMs' about 175 ms (five), the two reference triggers 19 + 27 ms, the numbered
CTE 31 ms (its sort 11 ms); 40 MB of WAL in 480,025 records (16 per handset and SIM).
perf of the backend: B-tree insertion 53 % of its CPU, WAL records 11 %, the reference
triggers 8 %, forming heap tuples 7 %, text comparisons (C.UTF-8 through libc) 6.5 %, the
identifier checks' regular expressions 4.5 %, nextval 4.7 %. Variants, each against the
unchanged write in the same run (backend CPU, best / median of 12-20): the six B-trees of
low-cardinality keys (model, contract, purchase order, status, refresh date, location),
each serving list pages in id order or counts, together 130 ms, each about 20 ms; the
purchase order's as a BRIN index −10 to −15 ms, but a contract page's count per order loses
its index-only scan (47 → 67 ms for an order of 300,000) and an order delivered over months
would widen every block range, so it stays a B-tree; the IMEI, ICCID and number in the "C"
collation −14 ms median (not made: those columns would have a collation of their own beside
the staged, planned and MDM columns they are compared with, a change to weigh on its own);
the digit checks as ltrim() instead of a regular expression +10 to +20 ms; the sequences with CACHE 1000, and wal_init_zero off, no change.
Reserving a range of ids in one call is not safe beside writers that draw them one by one
(setval races with their nextval), and the per-row nextval costs no more than the cache
saved; refresh_due() is inlined (plain SQL, IMMUTABLE); the CTE is what gives a SIM its
handset's id without a join back.

Unchanged: the small-statement path (``fk_check_few``), the referenced side, the error
messages and SQLSTATE; the function keeps its search path (set again below: CREATE OR
REPLACE resets it).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "reference checks: a narrow range of parents read by key"

SQL = r"""
-- The referencing side's trigger (migration 2026-12-04T09:00), with the bounds of a narrow
-- range of asset or SIM keys (this migration's docstring says why). No comment inside the
-- body: a longer source moves the function's catalog row past PostgreSQL's inline limit,
-- which cost every call 0.35 ms.
CREATE OR REPLACE FUNCTION fk_check_references() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    me CONSTANT xid := pg_catalog.pg_current_xact_id()::xid;
    refs CONSTANT int := TG_NARGS / 4;
    few jsonb[];
    changed boolean[];
    bounds text[] := '{}';
    ranged int[] := '{}';
    sel text[] := '{}';
    vals bigint[];
    ctes text[] := '{}';
    counts text[] := '{}';
    found bigint[];
    query text;
    missing text;
    i int;
BEGIN
    few := ARRAY(SELECT to_jsonb(n) FROM new_rows n LIMIT 101);
    IF cardinality(few) <= 100 THEN
        IF TG_OP = 'UPDATE' THEN
            PERFORM fk_check_few(TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV, few,
                                 ARRAY(SELECT to_jsonb(o) FROM old_rows o));
        ELSE
            PERFORM fk_check_few(TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV, few, '{}');
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        EXECUTE 'SELECT ARRAY[' || (
            SELECT string_agg(format(
                'coalesce(bool_or(n.%1$I IS NOT NULL AND n.%1$I IS DISTINCT FROM o.%1$I), false)',
                TG_ARGV[4 * x]), ', ')
            FROM generate_series(0, refs - 1) AS series(x)
        ) || '] FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id' INTO changed;
    END IF;
    IF TG_TABLE_NAME IN ('sim', 'sim_fitting') THEN
        FOR i IN 0 .. refs - 1 LOOP
            CONTINUE WHEN TG_ARGV[4 * i + 1] NOT IN ('asset', 'sim')
                OR (TG_OP = 'UPDATE' AND NOT changed[i + 1]);
            ranged := ranged || i;
            sel := sel || format('min(%1$I), max(%1$I), (SELECT max(p.%3$I) - min(p.%3$I)'
                                 ' FROM %4$I.%2$I p)', TG_ARGV[4 * i], TG_ARGV[4 * i + 1],
                                 TG_ARGV[4 * i + 2], TG_TABLE_SCHEMA);
        END LOOP;
        IF cardinality(sel) > 0 THEN
            EXECUTE 'SELECT ARRAY[' || array_to_string(sel, ', ') || ']::bigint[] FROM new_rows'
                INTO vals;
            FOR r IN 1 .. cardinality(ranged) LOOP
                CONTINUE WHEN NOT coalesce((vals[3 * r - 1] - vals[3 * r - 2] + 1) * 4
                                           < vals[3 * r] + 1, false);
                bounds[ranged[r] + 1] := format(' AND p.%1$I BETWEEN %2$s AND %3$s',
                    TG_ARGV[4 * ranged[r] + 2], vals[3 * r - 2], vals[3 * r - 1]);
            END LOOP;
        END IF;
    END IF;
    FOR i IN 0 .. refs - 1 LOOP
        CONTINUE WHEN TG_OP = 'UPDATE' AND NOT changed[i + 1];
        query := format(CASE TG_OP
            WHEN 'INSERT' THEN 'SELECT DISTINCT %1$I AS k FROM new_rows WHERE %1$I IS NOT NULL'
            ELSE 'SELECT DISTINCT n.%1$I AS k FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id'
                 ' WHERE n.%1$I IS NOT NULL AND n.%1$I IS DISTINCT FROM o.%1$I' END,
            TG_ARGV[4 * i]);
        ctes := ctes || format(
            'k%1$s AS MATERIALIZED (%2$s),'
            ' p%1$s AS MATERIALIZED (SELECT p.%5$I AS id, p.xmin = $1 AS own'
            '   FROM %3$I.%4$I p WHERE p.%5$I IN (SELECT k FROM k%1$s)%6$s),'
            ' l%1$s AS MATERIALIZED (SELECT FROM %3$I.%4$I p'
            '   WHERE p.%5$I IN (SELECT id FROM p%1$s WHERE NOT own)%6$s FOR KEY SHARE OF p)',
            i, query, TG_TABLE_SCHEMA, TG_ARGV[4 * i + 1], TG_ARGV[4 * i + 2],
            coalesce(bounds[i + 1], ''));
        counts := counts || format(
            '(SELECT count(*) FROM k%1$s), (SELECT count(*) FROM p%1$s),'
            ' (SELECT count(*) FROM p%1$s WHERE NOT own), (SELECT count(*) FROM l%1$s)', i);
    END LOOP;
    IF cardinality(ctes) = 0 THEN
        RETURN NULL;
    END IF;
    EXECUTE 'WITH ' || array_to_string(ctes, ', ')
        || ' SELECT ARRAY[' || array_to_string(counts, ', ') || ']::bigint[]'
        INTO found USING me;
    FOR i IN 0 .. refs - 1 LOOP
        CONTINUE WHEN TG_OP = 'UPDATE' AND NOT changed[i + 1];
        IF found[1] <> found[2] OR found[3] <> found[4] THEN
            EXECUTE format(
                'SELECT min(n.%1$I)::text FROM %2$s WHERE n.%1$I IS NOT NULL AND %3$s'
                ' AND NOT EXISTS (SELECT FROM %4$I.%5$I p WHERE p.%6$I = n.%1$I)',
                TG_ARGV[4 * i],
                CASE TG_OP WHEN 'INSERT' THEN 'new_rows n'
                     ELSE 'new_rows n LEFT JOIN old_rows o ON o.id = n.id' END,
                CASE TG_OP WHEN 'INSERT' THEN 'true'
                     ELSE format('n.%1$I IS DISTINCT FROM o.%1$I', TG_ARGV[4 * i]) END,
                TG_TABLE_SCHEMA, TG_ARGV[4 * i + 1], TG_ARGV[4 * i + 2]) INTO missing;
            PERFORM fk_missing(TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[4 * i],
                               TG_ARGV[4 * i + 1], TG_ARGV[4 * i + 3], missing);
        END IF;
        found := found[5:];
    END LOOP;
    RETURN NULL;
END
$fn$;
"""

# Names resolve in this schema only, pg_temp last (as migration 2026-12-04T09:00 set them).
SEARCH_PATH = (
    "DO $$ BEGIN EXECUTE format('ALTER FUNCTION fk_check_references() SET search_path"
    " = %I, pg_temp', current_schema()); END $$;"
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL + SEARCH_PATH)

    manager.add_raw(run)
    return manager
