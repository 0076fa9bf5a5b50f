"""Rules for recovery cases the database keeps, the people feed's staging columns, and a case
for every leaver who already holds devices.

- One open case per person, one open line per device; a line is open, recovered or written
  off (with a reason), and closed exactly when it has a closing time.
- **A device held by a leaver never falls out of a case**, whatever path writes: two
  constraint triggers checked at commit refuse a person who leaves while holding a device
  no open line lists, and a line that closes while its device is still with the leaver.
- ``import_staged_row`` gains the columns an ``hr-people`` file's rows are staged in.
- Leavers who already hold devices get their case now (with an ``opened`` event each), due
  ``FLEETSVC_RECOVERY_DUE_DAYS`` (14 unless set) after the later of their leaving date and
  today.
"""

import os

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T01:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "recovery cases: checks, indexes, the leaver rules, staged people, open cases"

SQL = r"""
ALTER TABLE recovery_case ADD CONSTRAINT recovery_case_status_chk
    CHECK (status IN ('open','closed'));
ALTER TABLE recovery_case ADD CONSTRAINT recovery_case_closed_chk
    CHECK ((status = 'closed') = (closed_at IS NOT NULL));
ALTER TABLE recovery_case ADD CONSTRAINT recovery_case_due_chk CHECK (due_on >= left_on);
-- A leaver has one case at a time: a second would list the same devices again.
CREATE UNIQUE INDEX recovery_case_open_uq ON recovery_case (person_id) WHERE status = 'open';
CREATE INDEX recovery_case_person_idx ON recovery_case (person_id, id);
CREATE INDEX recovery_case_status_idx ON recovery_case (status, id);
CREATE INDEX recovery_case_bu_idx ON recovery_case (business_unit_id, id);

ALTER TABLE recovery_line ADD CONSTRAINT recovery_line_status_chk
    CHECK (status IN ('open','recovered','written_off'));
ALTER TABLE recovery_line ADD CONSTRAINT recovery_line_closed_chk
    CHECK ((status = 'open') = (closed_at IS NULL));
ALTER TABLE recovery_line ADD CONSTRAINT recovery_line_reason_chk
    CHECK (status <> 'written_off' OR (reason IS NOT NULL AND reason <> ''));
ALTER TABLE recovery_line ADD CONSTRAINT recovery_line_seats_chk
    CHECK (jsonb_typeof(licence_seats) = 'array');
CREATE UNIQUE INDEX recovery_line_case_asset_uq ON recovery_line (case_id, asset_id);
-- A device is on one open line at most: moving it settles exactly that line.
CREATE UNIQUE INDEX recovery_line_open_uq ON recovery_line (asset_id) WHERE status = 'open';
CREATE INDEX recovery_line_asset_idx ON recovery_line (asset_id);

-- A person who becomes a leaver while holding a device no open line lists: refused at
-- commit (fleetsvc.recoveries opens the case in the same transaction as the change).
CREATE FUNCTION recovery_leaver_covered() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    uncovered integer;
BEGIN
    SELECT a.id INTO uncovered FROM asset a
    WHERE a.person_id = NEW.id AND a.status = 'deployed'
      AND NOT EXISTS (SELECT 1 FROM recovery_line l WHERE l.asset_id = a.id AND l.status = 'open')
    LIMIT 1;
    IF uncovered IS NOT NULL AND NOT (SELECT active FROM person WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'person % left while holding asset %, which no open recovery case lists',
            NEW.id, uncovered USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER person_leaver_covered_trg AFTER UPDATE OF active ON person
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.active AND NOT NEW.active) EXECUTE FUNCTION recovery_leaver_covered();

-- A line that closes while its device is still deployed to the case's leaver: refused.
CREATE FUNCTION recovery_line_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM asset a JOIN recovery_case c ON c.id = NEW.case_id
               WHERE a.id = NEW.asset_id AND a.status = 'deployed' AND a.person_id = c.person_id
                 AND NOT EXISTS (SELECT 1 FROM person p WHERE p.id = c.person_id AND p.active))
    THEN
        RAISE EXCEPTION 'recovery line % closed while asset % is still held by the leaver',
            NEW.id, NEW.asset_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER recovery_line_released_trg AFTER UPDATE OF status ON recovery_line
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status = 'open' AND NEW.status <> 'open') EXECUTE FUNCTION recovery_line_released();

-- The people feed (hr-people) is staged like any import; only its own columns are filled.
ALTER TABLE import_staged_row
    ADD COLUMN employee_number text,
    ADD COLUMN forenames text,
    ADD COLUMN surname text,
    ADD COLUMN upn text,
    ADD COLUMN business_unit_code text,
    ADD COLUMN business_unit_name text,
    ADD COLUMN person_kind text,
    ADD COLUMN left_on date;

-- Leavers already holding devices: a case each, listing those devices and their seats.
WITH held AS (
    SELECT DISTINCT p.id, p.business_unit_id, COALESCE(p.left_on, current_date) AS left_on
    FROM person p JOIN asset a ON a.person_id = p.id AND a.status = 'deployed'
    WHERE NOT p.active
)
INSERT INTO recovery_case (person_id, business_unit_id, status, left_on, due_on, opened_by)
SELECT id, business_unit_id, 'open', left_on, greatest(left_on, current_date) + {days},
       'migration {id}'
FROM held ORDER BY id;
INSERT INTO recovery_line (case_id, asset_id, licence_seats)
SELECT c.id, a.id,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('seat_id', s.id, 'pool_id', s.pool_id,
                                                     'product', lp.product) ORDER BY s.id)
                 FROM licence_seat s JOIN licence_pool lp ON lp.id = s.pool_id
                 WHERE s.asset_id = a.id), '[]'::jsonb)
FROM recovery_case c JOIN asset a ON a.person_id = c.person_id AND a.status = 'deployed'
WHERE c.opened_by = 'migration {id}'
ORDER BY c.id, a.id;
INSERT INTO event (actor_name, actor_role, entity, entity_id, action, before, after)
SELECT 'migration {id}', 'admin', 'recovery_case', c.id, 'opened', NULL,
       jsonb_build_object('person_id', c.person_id, 'left_on', c.left_on, 'due_on', c.due_on,
                          'asset_ids', (SELECT jsonb_agg(l.asset_id ORDER BY l.asset_id)
                                        FROM recovery_line l WHERE l.case_id = c.id),
                          'reason', 'a leaver holding devices when recovery cases began')
FROM recovery_case c WHERE c.opened_by = 'migration {id}' ORDER BY c.id;
"""


def due_days() -> int:
    text = os.environ.get("FLEETSVC_RECOVERY_DUE_DAYS", "").strip() or "14"
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise ValueError(f"FLEETSVC_RECOVERY_DUE_DAYS must be 1 to 3650 days (got {text!r})")
    return int(text)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL.format(days=due_days(), id=ID))

    manager.add_raw(run)
    return manager
