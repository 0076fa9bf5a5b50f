"""API tokens: stored only as SHA-256 hashes."""

from piccolo.columns import ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from db.tables.users import AppUser


class ApiToken(Table, tablename="api_token", help_text="A bearer token with one role."):
    name = Varchar(length=100, unique=True)
    role = Varchar(length=16)
    token_hash = Varchar(length=64, unique=True, help_text="sha256 hex of the token")
    created_by = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    owner_user_id = ForeignKey(
        AppUser, null=True, default=None, on_delete=OnDelete.restrict, help_text="made on a page by"
    )
