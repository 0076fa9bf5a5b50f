"""Least privilege in the database: an owner role and a service role, and what the
service's role may do.

The owner role owns every table, sequence and function and runs the migrations. The
service role, which the running service connects as, owns nothing and holds only the
rights this module states. ``apply_policy`` runs after every migration run
(``db.migrate``), so a table a new migration adds gets the service's usual rights with no
line of its own; a table the service may do less on is named in ``REDUCED``, the one place
to say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Final

import asyncpg

# What the service may do on each table of ours that REDUCED does not name. Never
# TRUNCATE, REFERENCES or TRIGGER: nothing the service does needs them.
TABLE_RIGHTS: Final = ("SELECT", "INSERT", "UPDATE", "DELETE")
# PostgreSQL 17+: ANALYZE (and VACUUM) without owning the table. The demo analyses the
# tables it has just bulk-loaded, or the planner pairs 40,000 phones with 43,000 people by
# nested loop. Earlier servers skip that ANALYZE with a warning.
MAINTAIN: Final = "MAINTAIN"
REDUCED: Final[Mapping[str, tuple[str, ...]]] = {
    "event": ("SELECT", "INSERT"),  # the audit trail: written once, never changed
    # The hash chain: written only by its SECURITY DEFINER functions, read by verify.
    "event_seal": ("SELECT",),
    "event_chain_head": ("SELECT",),
    "event_pending": ("SELECT",),
    # A delivery's created items, sealed by their import's event: kept as written. The
    # records of imports before created_item are no longer written: read only.
    "created_record": ("SELECT",),
    "created_item": ("SELECT", "INSERT"),
    # Its partitions: read and written through it (event_history reads the one of items
    # with a SIM as its owner does), so nothing of their own.
    "created_item_sim": (),
    "created_item_bare": (),
    "event_history": ("SELECT",),  # the view every history read selects from
    # Personal values events refer to: added with their event, erased only by
    # audit_forget_person (a trigger refuses any other change).
    "personal_value": ("SELECT", "INSERT"),
    "migration": ("SELECT",),  # Piccolo's record of migrations applied (/ready reads it)
    "stocktake_scan": ("SELECT", "INSERT"),  # what was scanned, and what it was told: kept
    # What the demo did and created: written once, never changed (fleetsvc.demo).
    "demo_step": ("SELECT", "INSERT"),
    "demo_record": ("SELECT", "INSERT"),
    # Recovery cases and lines close, never vanish: the history of what a leaver returned.
    "recovery_case": ("SELECT", "INSERT", "UPDATE"),
    "recovery_line": ("SELECT", "INSERT", "UPDATE"),
}
SEQUENCE_RIGHTS: Final = ("USAGE",)  # nextval for serial ids

# The roles the embedded server is given (with DATABASE_URL, the URLs name them).
OWNER_ROLE: Final = "fleetsvc_owner"
SERVICE_ROLE: Final = "fleetsvc_service"

# Serialises two processes preparing the same database's roles at once.
_ROLES_LOCK: Final = 0x666C65657470726D  # "fleetprm"
# pg_class kinds: tables, partitioned tables, views, materialized views, foreign tables.
_RELATIONS = "('r', 'p', 'v', 'm', 'f')"
_RELATIONS_AND_SEQUENCES = "('r', 'p', 'v', 'm', 'f', 'S')"
_ALTER = {
    "r": "TABLE",
    "p": "TABLE",
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "f": "FOREIGN TABLE",
    "S": "SEQUENCE",
}
# An object that depends on another this way moves with it (or belongs to an extension).
# Not on itself: a table partitioned on an expression depends on its own columns.
_NOT_DEPENDENT = (
    "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass"
    " AND d.objid = {oid} AND d.deptype IN ({kinds})"
    " AND (d.refclassid, d.refobjid) <> (d.classid, d.objid))"
)
_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_rights(table: str, server_major: int) -> tuple[str, ...]:
    """The rights the service role is given on ``table`` (PostgreSQL major ``server_major``)."""
    if table in REDUCED:
        return REDUCED[table]
    return TABLE_RIGHTS + ((MAINTAIN,) if server_major >= 17 else ())


# --- set-up by a superuser (the embedded server, the test suite) ------------------------------


async def prepare_roles(
    superuser: asyncpg.Connection, owner: str, service: str, password: str | None = None
) -> None:
    """Make both roles (or put them right) and give the owner role this database and every
    object of ours in it. Idempotent; run as a superuser, connected to the database."""
    database = await superuser.fetchval("SELECT current_database()")
    o, s, d = quote_ident(owner), quote_ident(service), quote_ident(database)
    async with superuser.transaction():
        await superuser.execute("SELECT pg_advisory_xact_lock($1)", _ROLES_LOCK)
        for role in (owner, service):
            await _login_role(superuser, role, password)
        await superuser.execute(
            f"ALTER DATABASE {d} OWNER TO {o};"
            f" ALTER SCHEMA public OWNER TO {o};"
            f" REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
            f" GRANT CONNECT, TEMPORARY ON DATABASE {d} TO {s}"
        )
        await _hand_over(superuser, owner)


async def _login_role(conn: asyncpg.Connection, role: str, password: str | None) -> None:
    """A role that can log in and nothing more: no superuser, no new databases or roles."""
    attributes = _ROLE_ATTRIBUTES
    if password is not None:
        attributes += f" PASSWORD {_quote_literal(password)}"
    as_wanted = await conn.fetchval(
        "SELECT rolcanlogin AND NOT (rolsuper OR rolcreatedb OR rolcreaterole"
        " OR rolreplication OR rolbypassrls) FROM pg_roles WHERE rolname = $1",
        role,
    )
    if as_wanted is None:
        # Roles belong to the whole server: a process preparing another database may make
        # the same one at this moment.
        with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.execute(f"CREATE ROLE {quote_ident(role)} {attributes}")
            return
    if not as_wanted or password is not None:
        await conn.execute(f"ALTER ROLE {quote_ident(role)} {attributes}")


async def _hand_over(conn: asyncpg.Connection, owner: str) -> None:
    """Every object of ours in ``public`` to the owner role, whoever made it (an earlier
    version made them all as the superuser).

    Named one by one: ``REASSIGN OWNED BY postgres`` would try the superuser's system
    objects too, and fail. Indexes, a serial's sequence and a table's row type go with
    their table; objects of an extension stay with it. A partition depends on its table too
    (automatically), but is a table with an owner of its own: handed over like any other.
    """
    o = quote_ident(owner)
    owner_oid = "(SELECT oid FROM pg_roles WHERE rolname = $1)"
    statements: list[str] = []
    relations = await conn.fetch(
        "SELECT c.oid::regclass::text AS name, c.relkind::text AS kind FROM pg_class c"
        f" WHERE c.relnamespace = 'public'::regnamespace AND c.relowner <> {owner_oid}"
        f" AND c.relkind IN {_RELATIONS_AND_SEQUENCES} AND (c.relispartition OR "
        + _NOT_DEPENDENT.format(catalog="pg_class", oid="c.oid", kinds="'e', 'a', 'i'")
        + ")",
        owner,
    )
    statements += [f"ALTER {_ALTER[r['kind']]} {r['name']} OWNER TO {o}" for r in relations]
    routines = await conn.fetch(
        "SELECT p.oid::regprocedure::text AS name FROM pg_proc p"
        f" WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> {owner_oid} AND "
        + _NOT_DEPENDENT.format(catalog="pg_proc", oid="p.oid", kinds="'e'"),
        owner,
    )
    statements += [f"ALTER ROUTINE {r['name']} OWNER TO {o}" for r in routines]
    types = await conn.fetch(
        "SELECT t.oid::regtype::text AS name, t.typtype::text AS kind FROM pg_type t"
        f" WHERE t.typnamespace = 'public'::regnamespace AND t.typowner <> {owner_oid}"
        " AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c'"
        "  AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) AND "
        + _NOT_DEPENDENT.format(catalog="pg_type", oid="t.oid", kinds="'e'"),
        owner,
    )
    statements += [
        f"ALTER {'DOMAIN' if r['kind'] == 'd' else 'TYPE'} {r['name']} OWNER TO {o}" for r in types
    ]
    if statements:
        await conn.execute(";\n".join(statements))


# --- the policy, applied by the owner role after every migration run --------------------------


async def apply_policy(owner: asyncpg.Connection, service: str) -> None:
    """Give the service role exactly the policy's rights on every object of ours.

    Idempotent, and meant for one transaction: a replica still serving sees its old rights
    until the commit and the new ones after it, never neither.
    """
    s = quote_ident(service)
    major = owner.get_server_version().major
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {s}",
        f"REVOKE CREATE ON SCHEMA public FROM {s}",
    ]
    if await owner.fetchval(
        "SELECT pg_has_role(nspowner, 'USAGE') FROM pg_namespace WHERE nspname = 'public'"
    ):
        statements.append("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    objects = await owner.fetch(
        "SELECT c.relname, c.relkind::text AS kind FROM pg_class c"
        " WHERE c.relnamespace = 'public'::regnamespace AND pg_has_role(c.relowner, 'USAGE')"
        f" AND c.relkind IN {_RELATIONS_AND_SEQUENCES} ORDER BY c.relname"
    )
    for row in objects:
        name = f"public.{quote_ident(row['relname'])}"
        keyword = "SEQUENCE" if row["kind"] == "S" else "TABLE"
        rights = SEQUENCE_RIGHTS if row["kind"] == "S" else table_rights(row["relname"], major)
        statements.append(f"REVOKE ALL ON {keyword} {name} FROM {s}")
        if rights:
            statements.append(f"GRANT {', '.join(rights)} ON {keyword} {name} TO {s}")
    statements.append(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {s}")
    await owner.execute(";\n".join(statements))


_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


async def review(conn: asyncpg.Connection, service: str, owner: str) -> list[str]:
    """What the service role can do beyond the policy, or lacks of it, in plain words
    (empty when all is as it should be). Any role may ask."""
    role = await conn.fetchrow(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls,"
        " pg_has_role($1, $2, 'MEMBER') AS acts_as_owner FROM pg_roles WHERE rolname = $1",
        service,
        owner,
    )
    if role is None:
        return [f"there is no role {service}"]
    found: list[str] = []
    if role["rolsuper"]:
        found.append(f"{service} is a superuser: it can switch off the audit trail's triggers")
    if role["acts_as_owner"] and service != owner:
        found.append(f"{service} is a member of {owner}: it can act as the tables' owner")
    if role["rolcreatedb"] or role["rolcreaterole"]:
        found.append(f"{service} may create databases or roles")
    owned = await conn.fetchval(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid AND relpersistence <> 't')"
        " + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)"
        " + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid"
        "    AND nspname NOT LIKE 'pg\\_%')"
        " FROM pg_roles r WHERE r.rolname = $1",
        service,
    )
    if owned:
        found.append(f"{service} owns {owned} object(s) here: an owner can change or drop them")
    if await conn.fetchval("SELECT has_schema_privilege($1, 'public', 'CREATE')", service):
        found.append(f"{service} may create objects in schema public")
    major = conn.get_server_version().major
    held = await conn.fetch(
        "SELECT c.relname, array_agg(p.privilege ORDER BY p.privilege) AS rights"
        " FROM pg_class c CROSS JOIN unnest($2::text[]) AS p(privilege)"
        f" WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN {_RELATIONS}"
        " AND has_table_privilege($1, c.oid, p.privilege) GROUP BY c.relname",
        service,
        list(_TABLE_PRIVILEGES),
    )
    rights = {r["relname"]: set(r["rights"]) for r in held}
    tables = await conn.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        f" AND relkind IN {_RELATIONS} ORDER BY relname"
    )
    for t in (r["relname"] for r in tables):
        wanted = set(table_rights(t, major)) - {MAINTAIN}
        extra, missing = rights.get(t, set()) - wanted, wanted - rights.get(t, set())
        if extra:
            found.append(f"{service} may {', '.join(sorted(extra))} on {t}")
        if missing:
            found.append(f"{service} lacks {', '.join(sorted(missing))} on {t}")
    return found
