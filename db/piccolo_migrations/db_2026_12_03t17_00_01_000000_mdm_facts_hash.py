"""MDM sync: each device's stored record keeps a hash of its facts.

A sync re-sends every device the MDM manages, and between two exports most have not changed
at all. With the hash of what was stored last time, a batch tells the unchanged records
apart with one index lookup each and leaves them (and their assets) alone, instead of
matching each one to the register again and rewriting its row.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T17:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "mdm_device: the hash of the stored record's facts"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    manager.add_column(
        table_class_name="MdmDevice",
        tablename="mdm_device",
        column_name="facts_hash",
        db_column_name="facts_hash",
        column_class_name="Bytea",
        column_class=Bytea,
        params={
            "default": None,
            "null": True,
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
