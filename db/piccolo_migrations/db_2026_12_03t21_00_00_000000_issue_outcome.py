"""Delivery imports: each row error says whether its row was rejected or is in conflict with
the register, so a preview can list the conflicts (with the fields that differ) apart from
the rows to correct. Errors written before this say neither (NULL): shown with the rejected.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports: a row error's outcome (rejected or conflict)"

SQL = r"""
ALTER TABLE import_issue ADD COLUMN outcome varchar(16);
ALTER TABLE import_issue ADD CONSTRAINT import_issue_outcome_chk
    CHECK (outcome IN ('rejected','conflict'));
ALTER TABLE import_issue ADD CONSTRAINT import_issue_outcome_error_chk
    CHECK (outcome IS NULL OR severity = 'error');
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
