"""A large statement's reference checks read each parent table between the least and the
greatest key the statement names, not the whole table (issue 15).

``fk_check_references`` (migration 2026-12-04T09:00) checks a statement of more than 100 rows
in one query: per reference, the distinct keys (``k``), the parents found (``p``: ``parent.id
IN (SELECT k FROM k)``), the others' locked. The delivery runs with ``enable_nestloop`` off
(``apply_deliveries.apply``: what it reads was just inserted and cannot be counted), so each
``p`` was a hash join over a sequential scan of the whole parent table. A delivery's SIMs name
the 29,737 assets the same statement inserted, and the SIMs' check read every asset of the
register to find them: on a register of 300,000 handsets the SIM trigger took 93 ms
(EXPLAIN ANALYZE through auto_explain; 39 ms on an empty register), its scan of ``asset``
29 ms of it and growing with the register, not with the delivery.

Now ``p``, and ``l`` (the parents locked FOR KEY SHARE, which had the same scan), also say
``parent.id BETWEEN (SELECT min(k) FROM k) AND (SELECT max(k) FROM k)``: the same rows (every
key lies between its least and greatest, and a parent's key never changes, so a lock's
recheck of a row updated meanwhile sees the same key), so the same counts, the same locks
and the same errors, but a range the parent's primary key can be read by. A delivery's
asset ids are drawn together from ``asset_id_seq`` (``numbered``), one stretch of the key, so
the SIMs' check reads those assets and no other: 93 ms → 58 ms on the 300,000-handset
register, the scan of ``asset`` 29 ms → 12 ms (an index range of 29,737 entries). A statement
whose keys are few parents (a model, a contract, an import) reads one or two rows as before.
A statement whose keys are spread over a whole table reads it through its key instead of in
sequence, once; none of the service's bulk statements does (a delivery's, a batch move's keys
are a handful of parents or the rows it inserted).

Measured: the rolled-back write of a 29,737-handset delivery (the INSERT of bench.imports
write_cost), interleaved with main on one server, backend CPU best / median of 10: on a
register of 300,000 handsets 0.558 / 0.568 s → 0.537 / 0.546 s; on an empty register
0.510 / 0.521 s → 0.518 / 0.529 s (no scan to save; within the machine's noise).

Unchanged: the small-statement path (``fk_check_few``), the referenced side, the error
messages and SQLSTATE; the function keeps its search path (set again below: CREATE OR
REPLACE resets it).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "reference checks: each parent read between the least and greatest key"

SQL = r"""
-- The referencing side's trigger. Arguments: for each reference, (column, parent table,
-- parent key, constraint); integer keys, and the table's own key ``id`` (it pairs old and
-- new rows on UPDATE). Up to 100 rows: fk_check_few. More (a delivery): one query of every
-- reference's keys joined to their parents in one pass, whose planning (about a
-- millisecond) is noise beside the statement's own time.
CREATE OR REPLACE FUNCTION fk_check_references() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    me CONSTANT xid := pg_catalog.pg_current_xact_id()::xid;
    refs CONSTANT int := TG_NARGS / 4;
    few jsonb[];
    changed boolean[];
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
        -- Which references have a row whose key changed to a non-NULL one: one join for all.
        EXECUTE 'SELECT ARRAY[' || (
            SELECT string_agg(format(
                'coalesce(bool_or(n.%1$I IS NOT NULL AND n.%1$I IS DISTINCT FROM o.%1$I), false)',
                TG_ARGV[4 * x]), ', ')
            FROM generate_series(0, refs - 1) AS series(x)
        ) || '] FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id' INTO changed;
    END IF;
    FOR i IN 0 .. refs - 1 LOOP
        CONTINUE WHEN TG_OP = 'UPDATE' AND NOT changed[i + 1];
        query := format(CASE TG_OP
            WHEN 'INSERT' THEN 'SELECT DISTINCT %1$I AS k FROM new_rows WHERE %1$I IS NOT NULL'
            ELSE 'SELECT DISTINCT n.%1$I AS k FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id'
                 ' WHERE n.%1$I IS NOT NULL AND n.%1$I IS DISTINCT FROM o.%1$I' END,
            TG_ARGV[4 * i]);
        -- k: the keys; p: the parents found, and whether this transaction wrote them; l: the
        -- others, locked. p and l read the parent between the least and the greatest key (a
        -- delivery's SIMs name the assets it has just inserted: one stretch of the key).
        -- Each is counted whole below, so each runs to its end.
        ctes := ctes || format(
            'k%1$s AS MATERIALIZED (%2$s),'
            ' p%1$s AS MATERIALIZED (SELECT p.%5$I AS id, p.xmin = $1 AS own'
            '   FROM %3$I.%4$I p WHERE p.%5$I IN (SELECT k FROM k%1$s)'
            '   AND p.%5$I BETWEEN (SELECT min(k) FROM k%1$s) AND (SELECT max(k) FROM k%1$s)),'
            ' l%1$s AS MATERIALIZED (SELECT FROM %3$I.%4$I p'
            '   WHERE p.%5$I IN (SELECT id FROM p%1$s WHERE NOT own)'
            '   AND p.%5$I BETWEEN (SELECT min(k) FROM k%1$s) AND (SELECT max(k) FROM k%1$s)'
            '   FOR KEY SHARE OF p)',
            i, query, TG_TABLE_SCHEMA, TG_ARGV[4 * i + 1], TG_ARGV[4 * i + 2]);
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
        -- Every key found, and every parent found that others could delete locked; else
        -- one missing key, looked up again with a new snapshot (so a parent deleted
        -- concurrently is missing now).
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
