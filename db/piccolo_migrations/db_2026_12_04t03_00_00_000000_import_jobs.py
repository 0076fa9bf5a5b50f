"""Delivery imports committed as jobs: an import names the job that commits it (the one a
second commit of the same import answers with, and where its phase is read from).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports: the job that commits an import"

SQL = r"""
ALTER TABLE delivery_import ADD COLUMN job_id integer REFERENCES job (id) ON DELETE RESTRICT;
CREATE INDEX delivery_import_job_idx ON delivery_import (job_id) WHERE job_id IS NOT NULL;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
