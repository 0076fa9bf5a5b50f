"""The reference checks of migration 2026-12-04T19:00:00 once more, in the form that migration
now writes (issue 15).

That migration reached main twice: first with the parents' key range always read (a bound
from ``min(k)`` and ``max(k)`` in the query), then in its final form (the range read only for
a narrow range of asset or SIM keys, its bounds written into the query, no comment in the
function's body). A database migrated between the two holds the first form of
``fk_check_references`` and would not run 2026-12-04T19:00:00 again: this migration replaces
the function with the final form everywhere. A database migrated after both gets the same
function a second time (CREATE OR REPLACE of the same body; its search path set again).

What the first form cost, on the same server (see 2026-12-04T19:00:00): a 150-row INSERT of
assets about 0.2 ms more (the trigger 1.25 → 1.40 ms, best of 100: its larger query's
planning), and a delivery of 300,000 handsets into an empty register about 0.1 s more (a key
range that was the whole table, read through a bitmap of the primary key: 102 ms where the
scan took 29 ms, and two passes over the keys for the bounds, 55 ms).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.piccolo_migrations.db_2026_12_04t19_00_00_000000_fk_key_range import SEARCH_PATH, SQL

ID = "2026-12-04T19:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "reference checks: the final form of 2026-12-04T19:00:00 again"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL + SEARCH_PATH)

    manager.add_raw(run)
    return manager
