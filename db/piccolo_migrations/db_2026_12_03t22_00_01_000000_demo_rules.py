"""The demo's records: one row per record it created, found by entity (the demo reads
"which people are mine" as one index range)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T22:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "demo: one row per record"

SQL = r"""
CREATE UNIQUE INDEX demo_record_uq ON demo_record (entity, entity_id);
ALTER TABLE demo_record ADD CONSTRAINT demo_record_entity_chk CHECK (entity <> '');
ALTER TABLE demo_step ADD CONSTRAINT demo_step_step_chk CHECK (step <> '');
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
