"""A delivery's created items summarised in their block-range index as soon as its import
commits, not when autovacuum comes by (issue 15).

``created_item_brin`` answers an asset's or a SIM's history, where a device was last kept,
``GET /events?actor=`` and ``?since=&until=`` from its ranges' summaries; a range with no
summary yet is read whole by every such lookup. A delivery's items fill ranges that
autovacuum summarises at its next visit (``autosummarize``), and the last, partial range only
at the next VACUUM: until then every lookup reads the whole delivery. Over 118,998 items
right after the last of four 29,737-handset imports: an asset's history 5.7 ms against 0.46
once summarised, a SIM's entries 3.3 against 0.23, a rare actor's page 3.9 against 0.60.

``created_item_summarize()`` summarises both partitions' new ranges, and analyses a
partition that has never been (until autovacuum's first ANALYZE the planner has no
statistics to cost a block range by, and read every item for an asset's history: 88 ms
after a first 29,737-handset import, 0.47 ms once analysed). Summarising is the
index owner's (or MAINTAIN's) to do, so it is SECURITY DEFINER, owned by the owner role, its
search_path this schema then pg_temp, and the service role may EXECUTE it (as every function
of ours: ``db.privileges``). It waits at most 200 ms for its lock (a VACUUM of the table
holds the same one); the import's job calls it after the commit and logs a failure, which
never fails the import.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T17:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "created_item: a function that summarises a commit's new block ranges"

SQL = r"""
CREATE FUNCTION created_item_summarize() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    part regclass;
BEGIN
    -- A partition never analysed (the first import since the migration) has no statistics:
    -- the planner cannot cost its block ranges and reads every item instead.
    FOR part IN SELECT c.oid::regclass FROM pg_class c
                WHERE c.oid IN ('created_item_sim'::regclass, 'created_item_bare'::regclass)
                  AND c.reltuples < 0 LOOP
        EXECUTE format('ANALYZE %s', part);
    END LOOP;
    RETURN brin_summarize_new_values('created_item_sim_brin'::regclass)
         + brin_summarize_new_values('created_item_bare_brin'::regclass);
END $$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION created_item_summarize() SET search_path = %I, pg_temp',
                   current_schema());
    ALTER FUNCTION created_item_summarize() SET lock_timeout = '200ms';
    REVOKE ALL ON FUNCTION created_item_summarize() FROM PUBLIC;
END $$;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
