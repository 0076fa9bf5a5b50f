"""The append-only audit trail; a trigger refuses UPDATE, DELETE and TRUNCATE.

Beside it, in raw SQL (migration ``2026-12-03T09:00:00``), and written only by database
functions: the hash chain (``event_seal``, one row per committed transaction that wrote
events; ``event_chain_head``; ``event_pending`` while a transaction runs) and the personal
values events refer to instead of holding them (``personal_value``).
"""

from piccolo.columns import JSONB, BigInt, BigSerial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Event(Table, tablename="event", help_text="One change to one record."):
    id = BigSerial(primary_key=True)
    occurred_at = Timestamptz(default=TimestamptzNow())
    actor_name = Varchar(length=100)
    actor_role = Varchar(length=16)
    request_id = Varchar(length=64, null=True, default=None)
    entity = Varchar(length=32, help_text="asset, sim, person, ...")
    entity_id = BigInt()
    action = Varchar(length=32, help_text="created, updated, transition, ...")
    before = JSONB(null=True, default=None)
    after = JSONB(null=True, default=None)
