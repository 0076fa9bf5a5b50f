"""What ``fleetsvc demo`` has done: the steps of its story it has finished, and the records
it created, so that a second run changes nothing and no run touches a record it did not
create.

The rules Piccolo cannot say (one row per record) are in the demo migration's raw SQL.
"""

from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class DemoStep(Table, tablename="demo_step", help_text="A step of the demo's story, done."):
    step = Varchar(length=64, unique=True, help_text="fleetsvc.demo.load names the steps")
    done_at = Timestamptz(default=TimestamptzNow())


class DemoRecord(Table, tablename="demo_record", help_text="A record the demo created."):
    entity = Varchar(length=32, help_text="as events name it: person, contract, delivery_import")
    entity_id = BigInt()
