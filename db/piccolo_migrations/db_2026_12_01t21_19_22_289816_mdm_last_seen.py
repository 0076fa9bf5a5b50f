"""MDM sync: an asset's last check-in is read from its mdm_device row, not copied onto it.

Every sync moves nearly every device's last check-in. Copied onto the asset, that rewrote
40,000 asset rows a run, each adding an entry to all of the asset table's indexes; the
mdm_device row (fillfactor 50, few indexes) already holds the same value.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-01T21:19:22:289816"
VERSION = "1.38.0"
DESCRIPTION = "asset: last check-in is read from mdm_device"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="db", description=DESCRIPTION
    )

    manager.drop_column(
        table_class_name="Asset",
        tablename="asset",
        column_name="mdm_last_seen_at",
        db_column_name="mdm_last_seen_at",
        schema=None,
    )

    return manager
