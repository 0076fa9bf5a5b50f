"""Recovery cases can be cancelled: a leaver who comes back (the feed clears their leaving
date, or ``PATCH {"active": true}``) no longer owes the devices they hold.

- ``recovery_case.status`` gains ``cancelled``; a cancelled case, like a closed one, has a
  closing time, and says why (``reason``: ``returned``, the one reason so far).
- ``recovery_line.status`` gains ``cancelled`` (the device stays with the person); its
  ``reason`` is the case's. A cancelled line is not open, so the device can be listed again
  if the person leaves again (a new case), and the leaver rule still holds: the constraint
  trigger refuses a person who *leaves* holding a device no open line lists.
- Cases opened for someone who is no longer a leaver (came back before this migration)
  are cancelled now, with their lines and an event each.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "recovery cases and lines: cancelled when the leaver returns"

SQL = r"""
ALTER TABLE recovery_case ADD COLUMN reason varchar(32);
COMMENT ON COLUMN recovery_case.reason IS 'why the case was cancelled (returned)';
ALTER TABLE recovery_case DROP CONSTRAINT recovery_case_status_chk;
ALTER TABLE recovery_case ADD CONSTRAINT recovery_case_status_chk
    CHECK (status IN ('open','closed','cancelled'));
ALTER TABLE recovery_case DROP CONSTRAINT recovery_case_closed_chk;
ALTER TABLE recovery_case ADD CONSTRAINT recovery_case_closed_chk
    CHECK ((status = 'open') = (closed_at IS NULL));
ALTER TABLE recovery_case ADD CONSTRAINT recovery_case_reason_chk
    CHECK ((status = 'cancelled') = (reason IS NOT NULL));
ALTER TABLE recovery_case ADD CONSTRAINT recovery_case_cancel_reason_chk
    CHECK (reason IN ('returned'));

ALTER TABLE recovery_line DROP CONSTRAINT recovery_line_status_chk;
ALTER TABLE recovery_line ADD CONSTRAINT recovery_line_status_chk
    CHECK (status IN ('open','recovered','written_off','cancelled'));
ALTER TABLE recovery_line ADD CONSTRAINT recovery_line_cancelled_chk
    CHECK (status <> 'cancelled' OR reason = 'returned');

-- Cases of people who came back before cases could be cancelled.
WITH back AS (
    UPDATE recovery_case c
    SET status = 'cancelled', reason = 'returned', closed_at = now(),
        version = c.version + 1, updated_at = now()
    FROM person p
    WHERE p.id = c.person_id AND c.status = 'open' AND p.active
    RETURNING c.id, c.person_id
), lines AS (
    UPDATE recovery_line l
    SET status = 'cancelled', reason = 'returned', closed_to = a.status, closed_at = now(),
        closed_by = 'migration {id}'
    FROM back b, asset a
    WHERE l.case_id = b.id AND l.status = 'open' AND a.id = l.asset_id
    RETURNING l.case_id
)
INSERT INTO event (actor_name, actor_role, entity, entity_id, action, before, after)
SELECT 'migration {id}', 'admin', 'recovery_case', b.id, 'cancelled',
       jsonb_build_object('status', 'open'),
       jsonb_build_object('status', 'cancelled', 'reason', 'returned',
                          'person_id', b.person_id,
                          'lines_cancelled', (SELECT count(*) FROM lines l WHERE l.case_id = b.id))
FROM back b ORDER BY b.id;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL.replace("{id}", ID))

    manager.add_raw(run)
    return manager
