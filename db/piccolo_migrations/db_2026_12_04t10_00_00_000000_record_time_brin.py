"""A created record's time indexed by block range (BRIN), not by a B-tree entry per record;
every ``created_record`` index named by the query it serves (issue 15).

Every delivered handset and SIM paid a B-tree entry in ``created_record_occurred_idx``
(occurred_at, id), yet no page of the audit trail filtered by time read it in id order:
``GET /events?since=&until=`` is ``ORDER BY id LIMIT n``, and with 237,896 records and
100,000 events PostgreSQL walked ``created_record_pkey`` filtering on the time for every
window that holds records (5–23 ms, the B-tree unused, the same with BRIN), and read the
B-tree only for a window with none (0.09 ms). A BRIN index answers that case the same
way (a bitmap of the block ranges whose times overlap the window, then the rows of those
ranges: 0.35 ms), and costs a record next to nothing: records are appended in time order,
so a range's summary is one short interval. The pages of a delivery not yet summarised are
read by every such query (59,474 records: 3.8 ms) until autovacuum summarises them, which
``autosummarize`` asks it to do as each range fills.
Measured in the rolled-back history of a 29,737-handset delivery (59,474 records) over that
register, interleaved, best of 7: backend CPU 390 ms against 430 ms with the B-tree (the
history before this session's work 480 ms); the index 24 kB against 7.3 MB.

Kept on ``created_record``, and what each serves:

- ``created_record_pkey`` (id): the trail's keyset (every page of ``GET /events``, in id
  order with the events), a record by id.
- ``created_record_entity_idx`` (entity, entity_id, id): an asset's or a SIM's history
  (``GET /assets/{id}/events``, ``?entity=&entity_id=``, where a device was last kept).
- ``created_record_actor_idx`` (actor_name, id): ``GET /events?actor=`` in id order, and
  the subject-access report's events by a user. Answering it through the sealing event
  instead (a view joining each record to the event that holds the actor) measured 345 ms
  for a page of 51 over the same register (every record of the actor's deliveries joined
  and sorted), against 1.5–7 ms; a first page with no filter 575 ms against 0.3 ms.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "created_record: its time indexed by block range; its indexes named"

SQL = r"""
CREATE INDEX created_record_occurred_brin ON created_record USING brin (occurred_at)
    WITH (pages_per_range = 32, autosummarize = on);
DROP INDEX created_record_occurred_idx;
ALTER INDEX created_record_occurred_brin RENAME TO created_record_occurred_idx;

COMMENT ON INDEX created_record_pkey IS
    'the audit trail''s keyset: every page of /events in id order with the events';
COMMENT ON INDEX created_record_entity_idx IS
    'an asset''s or SIM''s history: /assets/{id}/events, /events?entity=&entity_id=, last location';
COMMENT ON INDEX created_record_actor_idx IS
    '/events?actor= in id order; the subject-access report''s events by a user';
COMMENT ON INDEX created_record_occurred_idx IS
    '/events?since=&until= over a window with few records (wider ones walk the keyset)';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
