"""Columns most tables share: optimistic-concurrency version and timestamps."""

from piccolo.columns import Integer, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow


class Versioned:
    """Mixed into every record the API can change: ``version`` backs the ETag."""

    version = Integer(default=1, help_text="Bumped on every change; the ETag.")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
