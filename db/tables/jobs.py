"""Jobs: long work kept in PostgreSQL, claimed by any worker under a lease.

The rules Piccolo cannot say (the status vocabulary, the claim and lease indexes) are in
the jobs migration's raw SQL.
"""

from piccolo.columns import JSONB, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Job(Table, tablename="job", help_text="One piece of long work: queued, run, finished."):
    kind = Varchar(length=64, help_text="names the code that runs it (fleetsvc.jobs.kinds)")
    payload = JSONB(default="{}", help_text="the kind's parameters, checked when it runs")
    status = Varchar(length=16, default="queued")
    attempts = Integer(default=0, help_text="times a worker has started it")
    max_attempts = Integer(default=3)
    run_after = Timestamptz(default=TimestamptzNow(), help_text="not claimed before this")
    queued_by = Varchar(length=100)
    queued_role = Varchar(length=16)
    request_id = Varchar(length=64, null=True, default=None)
    progress = JSONB(default="{}", help_text='{"phase": ..., "counts": {...}}')
    error = Text(null=True, default=None)
    result = JSONB(null=True, default=None)
    unique_key = Varchar(
        length=200, null=True, default=None, unique=True, help_text="a scheduled run's kind@due"
    )
    lease_owner = Varchar(length=100, null=True, default=None, help_text="the worker running it")
    lease_expires_at = Timestamptz(null=True, default=None)
    backend_pid = Integer(
        null=True, default=None, help_text="the database session its work last ran on"
    )
    backend_seen_at = Timestamptz(null=True, default=None)
    cancel_requested_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())
