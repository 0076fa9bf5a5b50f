"""The location index names the queries it serves, as every asset index does."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T19:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "comment on asset_location_idx"

SQL = r"""
COMMENT ON INDEX asset_location_idx IS
    'stocktakes: the devices expected at a location; GET /api/v1/assets?location=CODE';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
