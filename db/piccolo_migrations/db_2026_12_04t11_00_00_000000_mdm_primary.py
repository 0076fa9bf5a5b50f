"""An asset's MDM device is its primary ``mdm_device`` row; the asset row no longer holds
copies of the MDM's facts (issue 15: the first sync of 40,000 in under 3 s).

Until now a sync copied four facts of each asset's primary MDM record onto the asset row
(``mdm_device_id``, ``mdm_compliance``, ``mdm_os_version``, ``mdm_user_upn``) beside the same
values in ``mdm_device``. Two of them are indexed (``asset_mdm_device_uq``,
``asset_mdm_user_upn_idx``), so no such UPDATE could be HOT: a first sync rewrote every
asset row and gave it a new entry in each of the table's 13 indexes. Measured on 40,000
handsets: that UPDATE alone was 0.8 s and 47-66 MB of WAL of a 3.6 s, 123 MB run, for values
the sync writes into ``mdm_device`` in the same batch anyway.

Now the link lives on the MDM's side: ``mdm_device.is_primary`` marks the record that is its
asset's MDM device (``mdm_device.asset_id``), at most one per asset
(``mdm_device_primary_uq``), never without an asset (``mdm_device_primary_chk``); an MDM
device id is one row, so it is held by one asset at most, the guarantee
``asset_mdm_device_uq`` gave. The asset's facts are its primary record's. The sync's
``mdm_synced`` events on the asset are unchanged (the same before and after), so an
asset's history is as complete as before.

The link each asset held is carried over: its record is marked primary and given that
asset (where the record had since been matched to another asset, or to none, the asset's
link wins, as the sync kept it, and the asset's facts become that record's: the MDM's latest
word, which the next sync would have applied). An asset that held a device id with no record
left gets a record holding its facts.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mdm: an asset's MDM device is its primary mdm_device row, not copies on asset"

SQL = r"""
ALTER TABLE mdm_device ADD COLUMN is_primary boolean NOT NULL DEFAULT false;

INSERT INTO mdm_device (mdm_device_id, device_name, serial_number, imei, user_upn, compliance,
                        os_version, asset_id)
SELECT a.mdm_device_id, '', a.serial_number, a.imei, a.mdm_user_upn, a.mdm_compliance,
       a.mdm_os_version, a.id
FROM asset a
WHERE a.mdm_device_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM mdm_device d WHERE d.mdm_device_id = a.mdm_device_id);

UPDATE mdm_device d SET is_primary = true, asset_id = a.id
FROM asset a WHERE a.mdm_device_id = d.mdm_device_id;
-- A record matched to an asset that held another device id stays that asset's record,
-- not its primary one.

ALTER TABLE mdm_device ADD CONSTRAINT mdm_device_primary_chk
    CHECK (NOT is_primary OR asset_id IS NOT NULL);
CREATE UNIQUE INDEX mdm_device_primary_uq ON mdm_device (asset_id) WHERE is_primary;
COMMENT ON INDEX mdm_device_primary_uq IS
    'an asset has one MDM device: the asset document''s, stocktake''s and reconciliation''s join; the sync''s current facts of a matched asset';

DROP INDEX asset_mdm_device_uq;
DROP INDEX asset_mdm_user_upn_idx;
ALTER TABLE asset DROP COLUMN mdm_device_id, DROP COLUMN mdm_compliance,
    DROP COLUMN mdm_os_version, DROP COLUMN mdm_user_upn;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
