"""Rules for user accounts the database keeps: one role of six, one account per e-mail
whatever its case, and the lookups sessions and tokens are found by."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T11:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "users: role check, unique e-mail ignoring case, session and token indexes"

SQL = r"""
ALTER TABLE app_user ADD CONSTRAINT app_user_role_chk
    CHECK (role IN ('admin','engineer','stores','finance','mdm','auditor'));
ALTER TABLE app_user ADD CONSTRAINT app_user_email_chk
    CHECK (email <> '' AND email = btrim(email));
ALTER TABLE app_user ADD CONSTRAINT app_user_failures_chk CHECK (failed_sign_ins >= 0);
CREATE UNIQUE INDEX app_user_email_uq ON app_user (lower(email));
CREATE INDEX user_session_user_idx ON user_session (user_id) WHERE ended_at IS NULL;
CREATE INDEX saved_search_session_idx ON saved_search (session_id);
CREATE INDEX api_token_owner_idx ON api_token (owner_user_id) WHERE owner_user_id IS NOT NULL;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
