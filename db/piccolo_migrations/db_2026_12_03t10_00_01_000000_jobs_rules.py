"""Jobs: the status vocabulary, and the indexes that claiming and taking back use.

A worker claims the oldest due queued job (``job_ready_idx``, partial: only queued rows are
in it, so finished jobs cost the claim nothing) and takes back running jobs whose lease has
expired (``job_lease_idx``, partial on running). Lists filter by status or kind, newest first.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T10:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "jobs: status check and claim indexes"

SQL = r"""
ALTER TABLE job ADD CONSTRAINT job_status_chk
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'));
ALTER TABLE job ADD CONSTRAINT job_attempts_chk
    CHECK (attempts >= 0 AND max_attempts >= 1);
ALTER TABLE job ADD CONSTRAINT job_lease_chk
    CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL));
CREATE INDEX job_ready_idx ON job (run_after, id) WHERE status = 'queued';
CREATE INDEX job_lease_idx ON job (lease_expires_at) WHERE status = 'running';
CREATE INDEX job_status_idx ON job (status, id);
CREATE INDEX job_kind_idx ON job (kind, id);
-- Jobs change status a few times each: room on the page keeps those updates HOT.
ALTER TABLE job SET (fillfactor = 70);
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
