"""MDM sync: mdm_device keeps only the indexes a query of the service uses.

A first sync inserts 40,000 mdm_device rows, each an entry in every index of the table. No
query looks an MDM record up by its serial number or its IMEI (matching looks up assets by
them, and the reconciliation's duplicates are a grouping of the whole scope), so those two
indexes were pure cost: dropped. Each index kept says what it serves (``COMMENT ON INDEX``;
``tests/db/test_indexes.py`` checks it).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "mdm_device: only the indexes a query uses"

SQL = r"""
DROP INDEX IF EXISTS mdm_device_serial_idx;
DROP INDEX IF EXISTS mdm_device_imei_idx;
COMMENT ON INDEX mdm_device_pkey IS 'the sync''s mark of unchanged records (id = ANY)';
COMMENT ON INDEX mdm_device_mdm_device_id_key IS
    'the sync''s upsert and unchanged lookup; asset and stocktake reads of the last check-in';
COMMENT ON INDEX mdm_device_asset_idx IS
    'the foreign key''s check when an asset is deleted or renumbered';
COMMENT ON INDEX mdm_device_user_upn_idx IS 'subject access and retention, by UPN';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
