"""A SIM's open fitting is kept on the SIM's row; ``sim_fitting`` keeps the removed ones
(issue 15).

``sim.asset_id`` said which handset a SIM is in, and an open ``sim_fitting`` row said it
again, with two unique indexes over open fittings (a SIM in one handset, a handset holding
one SIM) beside ``sim_asset_uq``, which already says the second. A delivery of 29,737
handsets wrote 29,737 fittings: a heap row, three index entries and two references checked
each, for nothing the SIM's row does not hold. Now:

- ``sim.fitting_id`` and ``sim.fitted_at``: the open fitting's id (drawn from
  ``sim_fitting_id_seq``, as before, so a SIM's fittings keep one order) and when it was
  fitted; set together, and only on a SIM that is in a handset (``sim_fitting_open_chk``).
  A SIM in a handset with no fitting recorded (rows written before fittings were) has
  neither, as it had no fitting row.
- ``sim_fitting`` holds removed fittings only (``sim_fitting_removed_chk``). Removing or
  moving a SIM writes its open fitting there, with the same id, as it is closed.
- A SIM is in one handset: it has one ``asset_id``. A handset holds one SIM:
  ``sim_asset_uq``. The two partial unique indexes over open fittings are dropped, and the
  indexes by handset and by SIM, which held removed fittings only, hold every row again.

Readers of every fitting read ``sims.ALL_FITTINGS``: the open ones from ``sim`` (through
``sim_pkey`` by SIM, ``sim_asset_uq`` by handset), the removed ones from ``sim_fitting``.

The open fittings move here; one whose SIM is elsewhere (no path of the service writes
one: a SIM and its fitting change in one transaction) is closed as of this migration, so
that nothing recorded is lost.

Measured: the rolled-back write of 29,737 handsets and SIMs, each variant interleaved with
the others, best / median of 10: backend CPU 0.54 / 0.565 s with the open fittings in
``sim_fitting`` (and its two unique indexes), 0.44 / 0.46 s with them on the SIM's row (the
fittings' INSERT and its reference checks, for one more value drawn from a sequence per
SIM). The three changes of this slot together: 0.61 / 0.625 s → 0.44 / 0.46 s.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T15:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "sim: the open fitting on the SIM's row; sim_fitting holds removed ones"

SQL = r"""
ALTER TABLE sim ADD COLUMN fitting_id integer, ADD COLUMN fitted_at timestamptz;
COMMENT ON COLUMN sim.fitting_id IS
    'the open fitting''s id (sim_fitting_id_seq); it keeps it in sim_fitting once removed';
COMMENT ON COLUMN sim.fitted_at IS 'when it was fitted in the handset it is in (asset_id)';

UPDATE sim s SET fitting_id = f.id, fitted_at = f.fitted_at
FROM sim_fitting f
WHERE f.sim_id = s.id AND f.asset_id = s.asset_id AND f.removed_at IS NULL;
UPDATE sim_fitting f SET removed_at = greatest(now(), f.fitted_at)
WHERE f.removed_at IS NULL AND NOT EXISTS (SELECT FROM sim s WHERE s.fitting_id = f.id);
DELETE FROM sim_fitting WHERE removed_at IS NULL;

ALTER TABLE sim ADD CONSTRAINT sim_fitting_open_chk
    CHECK ((fitting_id IS NULL) = (fitted_at IS NULL) AND (fitting_id IS NULL OR asset_id IS NOT NULL));
ALTER TABLE sim_fitting ADD CONSTRAINT sim_fitting_removed_chk CHECK (removed_at IS NOT NULL);

DROP INDEX sim_fitting_sim_open_uq;
DROP INDEX sim_fitting_asset_open_uq;
CREATE INDEX sim_fitting_asset_all_idx ON sim_fitting (asset_id);
CREATE INDEX sim_fitting_sim_all_idx ON sim_fitting (sim_id, id);
DROP INDEX sim_fitting_asset_idx;
DROP INDEX sim_fitting_sim_idx;
ALTER INDEX sim_fitting_asset_all_idx RENAME TO sim_fitting_asset_idx;
ALTER INDEX sim_fitting_sim_all_idx RENAME TO sim_fitting_sim_idx;
COMMENT ON INDEX sim_fitting_asset_idx IS
    'removed fittings by handset (the open one: sim_asset_uq): an asset''s timeline; the subject-access report''s SIMs per device';
COMMENT ON INDEX sim_fitting_sim_idx IS
    'removed fittings by SIM in id order (the open one is on its row): /sims/{id}/history; the subject-access report''s unrecorded fittings';
COMMENT ON INDEX sim_asset_uq IS
    'a handset holds one SIM; its open fitting (timeline, subject access); the asset document''s and holdings'' join to its SIM; ?asset_id=';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
