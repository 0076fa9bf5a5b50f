"""People who sign in to the pages: accounts, their sessions, and searches kept server-side."""

from piccolo.columns import JSONB, BigSerial, Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class AppUser(Table, tablename="app_user", help_text="A person who signs in, with one role."):
    email = Varchar(length=254, help_text="as typed; unique ignoring case")
    password_hash = Varchar(length=255, help_text="argon2id, with its parameters")
    role = Varchar(length=16)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    disabled_at = Timestamptz(null=True, default=None)
    failed_sign_ins = Integer(default=0, help_text="failures since the last good sign-in")
    locked_until = Timestamptz(null=True, default=None, help_text="back-off after failures")
    last_sign_in_at = Timestamptz(null=True, default=None)


class UserSession(Table, tablename="user_session", help_text="A signed-in browser."):
    id = BigSerial(primary_key=True)
    token_hash = Varchar(length=64, unique=True, help_text="sha256 hex of the cookie's value")
    user_id = ForeignKey(AppUser, null=False, on_delete=OnDelete.restrict)
    csrf_token = Varchar(length=64, help_text="sent back by every form of this session")
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    ended_at = Timestamptz(null=True, default=None)
    flash = JSONB(null=True, default=None, help_text="a message for the next page shown")


class SavedSearch(
    Table,
    tablename="saved_search",
    help_text="A search a page was sent by POST, kept so that its terms never go in a URL.",
):
    id = BigSerial(primary_key=True)
    session_id = ForeignKey(UserSession, null=False, on_delete=OnDelete.cascade)
    handle = Varchar(length=43, unique=True, help_text="random; the URL names only this")
    kind = Varchar(length=32, help_text="which page's search")
    query = JSONB()
    created_at = Timestamptz(default=TimestamptzNow())
