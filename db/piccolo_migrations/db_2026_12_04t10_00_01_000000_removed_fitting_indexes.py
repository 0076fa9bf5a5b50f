"""A SIM fitting's full indexes by handset and by SIM hold only removed fittings: a delivery,
whose fittings are all open, writes them no entry (issue 15).

``sim_fitting`` had, for each side, a unique partial index over open fittings (a handset
holds one SIM, a SIM is in one handset) and a full index (``sim_fitting_asset_idx``
(asset_id), ``sim_fitting_sim_idx`` (sim_id, id)) for the readers that want every fitting,
removed ones too. Each delivered handset paid both sides twice. The full ones now cover
``removed_at IS NOT NULL`` only, and those readers ask for open and removed fittings as two
arms, each answered by its own partial index: an asset's timeline (the SIMs it has held),
the subject-access report's SIMs per device and its "fitted with no fitting row", and
``GET /sims/{id}/history`` in id order (EXPLAIN over 118,948 fittings, 1,189 removed: each
arm an index scan, 0.03–0.8 ms). The rolled-back write of 29,737 handsets over that
register, the two kinds interleaved, best / median of 15: wall 1.46 / 1.54 s against
1.52 / 1.60 s with the full indexes, backend CPU 1.39 / 1.42 s against 1.42 / 1.44 s.
Assets and SIMs are never deleted, so a parent's foreign-key check, which would now scan
``sim_fitting``, does not arise.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T10:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "sim_fitting: the indexes by handset and by SIM over removed fittings only"

SQL = r"""
CREATE INDEX sim_fitting_asset_removed_idx ON sim_fitting (asset_id)
    WHERE removed_at IS NOT NULL;
CREATE INDEX sim_fitting_sim_removed_idx ON sim_fitting (sim_id, id)
    WHERE removed_at IS NOT NULL;
DROP INDEX sim_fitting_asset_idx;
DROP INDEX sim_fitting_sim_idx;
ALTER INDEX sim_fitting_asset_removed_idx RENAME TO sim_fitting_asset_idx;
ALTER INDEX sim_fitting_sim_removed_idx RENAME TO sim_fitting_sim_idx;
COMMENT ON INDEX sim_fitting_asset_idx IS
    'removed fittings by handset (open ones: sim_fitting_asset_open_uq): an asset''s timeline; the subject-access report''s SIMs per device';
COMMENT ON INDEX sim_fitting_sim_idx IS
    'removed fittings by SIM in id order (open ones: sim_fitting_sim_open_uq): /sims/{id}/history; the subject-access report''s unrecorded fittings';
COMMENT ON INDEX sim_fitting_asset_open_uq IS
    'a handset holds one SIM at a time; its open fitting in the timeline and subject access';
COMMENT ON INDEX sim_fitting_sim_open_uq IS
    'a SIM is in one handset at a time; closing its open fitting; its open fitting in its history';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
