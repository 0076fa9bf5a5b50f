"""Imports: a row error says whether the row is a conflict (it says otherwise than the
register) or rejected (it cannot be read or names what does not exist), so a report can
list the conflicts apart. Issues written before are left false: their import's counts
still say how many conflicts it had."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T22:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports: conflict flag on row issues"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="db", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="ImportIssue",
        tablename="import_issue",
        column_name="conflict",
        db_column_name="conflict",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": False,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
