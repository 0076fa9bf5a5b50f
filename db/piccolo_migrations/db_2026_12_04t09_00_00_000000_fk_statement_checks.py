"""The eleven references a delivery writes, checked once per statement instead of once per
row (issue 15, "Foreign-key checks").

A delivery of 29,737 handsets inserts 29,737 assets, SIMs and fittings in one statement
(``fleetsvc.imports.apply_deliveries``). Their foreign keys ran PostgreSQL's
referential-integrity trigger once per row and reference, 11 × 29,737 queries:

- asset → device_model, person, purchase_order, contract, delivery_import, location;
- sim → contract, asset, delivery_import;
- sim_fitting → sim, asset.

Those eleven constraints are replaced by triggers that keep the same guarantee, under the
same names, and fail with the same error: SQLSTATE 23503 (``foreign_key_violation``), the
constraint's name, table and PostgreSQL's own message and detail (``Key (model_id)=(5) is
not present in table "device_model".``). The table classes (db/tables) declare the columns
as plain integers to match.

**The referencing side** (``fk_check_references``: per table an AFTER INSERT and an AFTER
UPDATE trigger FOR EACH STATEMENT with transition tables, the references as arguments).
Every distinct key the statement wrote is looked up in its parent (on UPDATE only keys of
rows whose key changed; NULLs are not checked, MATCH SIMPLE as before), and the parent rows
found are locked FOR KEY SHARE once per distinct key, as the built-in check locks them: that
lock makes a concurrent DELETE of the parent wait for this transaction and then fail on the
child it can see by then. A parent this transaction inserted itself (``xmin`` is our
transaction id) is found but not locked: no other transaction can see it, so none can
delete it; a delivery's SIMs name the assets its statement inserted, and the fittings those
SIMs (locking them too cost 0.10–0.16 s of the delivery instead of 0.07–0.09 s). A parent
inserted inside a savepoint carries the savepoint's id and is locked like any other (the
import's apply runs in no savepoint). A missing
key, or a parent a concurrent transaction deleted before the lock was granted, fails the
whole statement. The check runs when the statement ends, so one statement may insert parents
and children together (the delivery's writable CTEs do).

Two paths, one guarantee. A statement of more than 100 rows (a delivery, a batch) gets one
query that joins every reference's keys to their parents, built for the table (planning it
is about a millisecond). A statement of up to 100 rows (one PATCH, one registration) reads
its rows as jsonb and locks each reference's parents by key with statements PostgreSQL
keeps planned (``fk_check_few``): built per call, even a one-row check cost 150 µs more than
the built-in one. UPDATE triggers cannot name columns when they have transition tables, so
every UPDATE of these tables runs the trigger; it compares old and new rows first and stops
when no key changed (an MDM sync's updates, a note).

**The referenced side** (``fk_check_referenced``, the references to each parent table as
arguments). A DELETE is checked once per statement (AFTER DELETE, the deleted rows as a
transition table) and refused while a row names a deleted key; the rows found are locked
FOR KEY SHARE as the built-in check does, so a child being deleted concurrently is waited
for, not counted. A TRUNCATE is refused while rows that name the table remain (checked after
it, so truncating parent and child together passes). A change of a parent's key is refused
while the key is referenced (RESTRICT): the constraints said ON UPDATE CASCADE, but no
statement of the service ever writes a primary key (ids come from sequences), so nothing
relied on the cascade. That check is a row trigger on ``UPDATE OF id WHEN (OLD.id IS
DISTINCT FROM NEW.id)``, which costs nothing unless a key changes; a statement trigger
could not name the column, and would copy every row of every update of person, asset or
contract into transition tables to find no change.

Isolation: the service writes at READ COMMITTED (its REPEATABLE READ transactions only
read). Each query of these functions takes a new snapshot, so a delete that waited for a
child's lock sees the child, committed meanwhile, and a child's check that waited for a
parent's deleter finds the parent gone: in either order the second fails. The functions
run with the caller's rights, as every statement of the service does (it may read and
update every table involved, which FOR KEY SHARE needs; SECURITY DEFINER cost about
100 µs a call), and resolve names in this schema only, pg_temp last.

Unchanged: every other foreign key (none is on a bulk path). ``pg_restore
--disable-triggers`` and ``session_replication_role = replica`` skip these triggers as they
skipped the built-in checks. A dump restores as before: pg_dump creates triggers after
loading the data, as it added foreign keys; unlike ``ADD FOREIGN KEY`` a trigger does not
check the rows already there, and ``SELECT * FROM fk_violations()`` does (it lists every row
that names a missing parent; empty when the register is whole).

Measured on one 2-core machine shared with other work (figures in the README's "Delivery
import speed"): EXPLAIN ANALYZE of the 29,737-row INSERT, same session, load 3.4: the
eleven RI triggers 0.78–0.86 s (29,737 calls each), the three statement triggers 0.07–0.08 s;
the INSERT 1.43–1.53 s → 0.75–0.78 s. bench.imports against main, best of each of two runs:
the write 1.37–1.40 → 0.69–0.70 s, upload + commit 2.46–2.47 → 1.81–1.83 s. One-row
writes, the backend's CPU per statement (4,000 in a row, best of 3) against the built-in
checks on the same server: INSERT of an asset 62 µs (42), of a SIM 25 µs (17), an asset's
holder changed 588–592 µs (558–560), an UPDATE that changes no key 70 µs (55). Bulk UPDATE
(EXPLAIN ANALYZE): 40,000 assets, no key changed, the trigger 27 ms of 2.8 s; 40,000 moved
to another location, 21 ms where the built-in checks took 218 ms.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Integer

ID = "2026-12-04T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "delivery tables' foreign keys: checked once per statement"

# (constraint, referencing table, column, referenced table): the constraint names are kept,
# the errors carry them, as the built-in checks' did.
REFERENCES = (
    ("asset_model_id_fkey", "asset", "model_id", "device_model"),
    ("asset_person_id_fkey", "asset", "person_id", "person"),
    ("asset_purchase_order_id_fkey", "asset", "purchase_order_id", "purchase_order"),
    ("asset_contract_id_fkey", "asset", "contract_id", "contract"),
    ("asset_delivery_import_id_fkey", "asset", "delivery_import_id", "delivery_import"),
    ("asset_location_id_fkey", "asset", "location_id", "location"),
    ("sim_contract_id_fkey", "sim", "contract_id", "contract"),
    ("sim_asset_id_fkey", "sim", "asset_id", "asset"),
    ("sim_delivery_import_id_fkey", "sim", "delivery_import_id", "delivery_import"),
    ("sim_fitting_sim_id_fkey", "sim_fitting", "sim_id", "sim"),
    ("sim_fitting_asset_id_fkey", "sim_fitting", "asset_id", "asset"),
)

FUNCTIONS = r"""
-- A referencing row's missing parent, as PostgreSQL's own check words it.
CREATE FUNCTION fk_missing(schema_name text, table_name text, col text, parent text,
                           constraint_name text, missing text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
        table_name, constraint_name
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = constraint_name,
              TABLE = table_name, SCHEMA = schema_name,
              DETAIL = CASE WHEN missing IS NULL
                  THEN format('Key is not present in table "%s".', parent)
                  ELSE format('Key (%s)=(%s) is not present in table "%s".',
                              col, missing, parent) END;
END
$fn$;

-- The referencing side, for a statement of up to 100 rows (one PATCH, one registration):
-- ``few`` its rows, ``olds`` their old versions on UPDATE, ``args`` the trigger's (indexed
-- from 0). Each reference's keys are read from the rows, and its parents locked by key by a
-- statement PostgreSQL keeps planned for each parent this migration knows (a statement
-- built with format() is planned at every call, about 20 µs each).
CREATE FUNCTION fk_check_few(schema_name text, table_name text, args text[],
                             few jsonb[], olds jsonb[]) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    refs CONSTANT int := cardinality(args) / 4;
    cols text[] := '{}';
    which int[] := '{}';
    keysets text[] := '{}';
    keys bigint[];
    locked bigint;
    missing text;
    i int;
BEGIN
    IF cardinality(few) = 1 THEN
        FOR i IN 0 .. refs - 1 LOOP
            CONTINUE WHEN few[1] ->> args[4 * i] IS NULL
                OR few[1] -> args[4 * i] = olds[1] -> args[4 * i];
            which := which || i;
            keysets := keysets || ARRAY[few[1] ->> args[4 * i]]::text;
        END LOOP;
    ELSE
        FOR i IN 0 .. refs - 1 LOOP
            cols := cols || args[4 * i];
        END LOOP;
        SELECT coalesce(array_agg(k.pos - 1 ORDER BY k.pos), '{}'),
               coalesce(array_agg(k.keys::text ORDER BY k.pos), '{}')
        INTO which, keysets
        FROM (SELECT c.pos, array_agg(DISTINCT (n.j ->> c.col)::bigint) AS keys
              FROM unnest(few) AS n(j)
                   LEFT JOIN unnest(olds) AS o(j) ON o.j -> 'id' = n.j -> 'id'
                   CROSS JOIN unnest(cols) WITH ORDINALITY AS c(col, pos)
              WHERE n.j ->> c.col IS NOT NULL AND n.j -> c.col IS DISTINCT FROM o.j -> c.col
              GROUP BY c.pos) k;
    END IF;
    FOR g IN 1 .. cardinality(which) LOOP
        i := which[g];
        keys := keysets[g]::bigint[];
        CASE args[4 * i + 1] || '.' || args[4 * i + 2]
-- @known parents
        ELSE
            EXECUTE format('SELECT count(*) FROM (SELECT FROM %I.%I p WHERE p.%I = ANY($1)'
                           ' FOR KEY SHARE OF p) l', schema_name, args[4 * i + 1], args[4 * i + 2])
                INTO locked USING keys;
        END CASE;
        CONTINUE WHEN locked = cardinality(keys);
        EXECUTE format('SELECT min(k)::text FROM unnest($1) k'
                       ' WHERE NOT EXISTS (SELECT FROM %I.%I p WHERE p.%I = k)',
                       schema_name, args[4 * i + 1], args[4 * i + 2])
            INTO missing USING keys;
        PERFORM fk_missing(schema_name, table_name, args[4 * i], args[4 * i + 1],
                           args[4 * i + 3], missing);
    END LOOP;
END
$fn$;

-- The referencing side's trigger. Arguments: for each reference, (column, parent table,
-- parent key, constraint); integer keys, and the table's own key ``id`` (it pairs old and
-- new rows on UPDATE). Up to 100 rows: fk_check_few. More (a delivery): one query of every
-- reference's keys joined to their parents in one pass, whose planning (about a
-- millisecond) is noise beside the statement's own time.
CREATE FUNCTION fk_check_references() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    me CONSTANT xid := pg_catalog.pg_current_xact_id()::xid;
    refs CONSTANT int := TG_NARGS / 4;
    few jsonb[];
    changed boolean[];
    ctes text[] := '{}';
    counts text[] := '{}';
    found bigint[];
    query text;
    missing text;
    i int;
BEGIN
    few := ARRAY(SELECT to_jsonb(n) FROM new_rows n LIMIT 101);
    IF cardinality(few) <= 100 THEN
        IF TG_OP = 'UPDATE' THEN
            PERFORM fk_check_few(TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV, few,
                                 ARRAY(SELECT to_jsonb(o) FROM old_rows o));
        ELSE
            PERFORM fk_check_few(TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV, few, '{}');
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- Which references have a row whose key changed to a non-NULL one: one join for all.
        EXECUTE 'SELECT ARRAY[' || (
            SELECT string_agg(format(
                'coalesce(bool_or(n.%1$I IS NOT NULL AND n.%1$I IS DISTINCT FROM o.%1$I), false)',
                TG_ARGV[4 * x]), ', ')
            FROM generate_series(0, refs - 1) AS series(x)
        ) || '] FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id' INTO changed;
    END IF;
    FOR i IN 0 .. refs - 1 LOOP
        CONTINUE WHEN TG_OP = 'UPDATE' AND NOT changed[i + 1];
        query := format(CASE TG_OP
            WHEN 'INSERT' THEN 'SELECT DISTINCT %1$I AS k FROM new_rows WHERE %1$I IS NOT NULL'
            ELSE 'SELECT DISTINCT n.%1$I AS k FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id'
                 ' WHERE n.%1$I IS NOT NULL AND n.%1$I IS DISTINCT FROM o.%1$I' END,
            TG_ARGV[4 * i]);
        -- k: the keys; p: the parents found, and whether this transaction wrote them; l: the
        -- others, locked. Each is counted whole below, so each runs to its end.
        ctes := ctes || format(
            'k%1$s AS MATERIALIZED (%2$s),'
            ' p%1$s AS MATERIALIZED (SELECT p.%5$I AS id, p.xmin = $1 AS own'
            '   FROM %3$I.%4$I p WHERE p.%5$I IN (SELECT k FROM k%1$s)),'
            ' l%1$s AS MATERIALIZED (SELECT FROM %3$I.%4$I p'
            '   WHERE p.%5$I IN (SELECT id FROM p%1$s WHERE NOT own) FOR KEY SHARE OF p)',
            i, query, TG_TABLE_SCHEMA, TG_ARGV[4 * i + 1], TG_ARGV[4 * i + 2]);
        counts := counts || format(
            '(SELECT count(*) FROM k%1$s), (SELECT count(*) FROM p%1$s),'
            ' (SELECT count(*) FROM p%1$s WHERE NOT own), (SELECT count(*) FROM l%1$s)', i);
    END LOOP;
    IF cardinality(ctes) = 0 THEN
        RETURN NULL;
    END IF;
    EXECUTE 'WITH ' || array_to_string(ctes, ', ')
        || ' SELECT ARRAY[' || array_to_string(counts, ', ') || ']::bigint[]'
        INTO found USING me;
    FOR i IN 0 .. refs - 1 LOOP
        CONTINUE WHEN TG_OP = 'UPDATE' AND NOT changed[i + 1];
        -- Every key found, and every parent found that others could delete locked; else
        -- one missing key, looked up again with a new snapshot (so a parent deleted
        -- concurrently is missing now).
        IF found[1] <> found[2] OR found[3] <> found[4] THEN
            EXECUTE format(
                'SELECT min(n.%1$I)::text FROM %2$s WHERE n.%1$I IS NOT NULL AND %3$s'
                ' AND NOT EXISTS (SELECT FROM %4$I.%5$I p WHERE p.%6$I = n.%1$I)',
                TG_ARGV[4 * i],
                CASE TG_OP WHEN 'INSERT' THEN 'new_rows n'
                     ELSE 'new_rows n LEFT JOIN old_rows o ON o.id = n.id' END,
                CASE TG_OP WHEN 'INSERT' THEN 'true'
                     ELSE format('n.%1$I IS DISTINCT FROM o.%1$I', TG_ARGV[4 * i]) END,
                TG_TABLE_SCHEMA, TG_ARGV[4 * i + 1], TG_ARGV[4 * i + 2]) INTO missing;
            PERFORM fk_missing(TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[4 * i],
                               TG_ARGV[4 * i + 1], TG_ARGV[4 * i + 3], missing);
        END IF;
        found := found[5:];
    END LOOP;
    RETURN NULL;
END
$fn$;

-- The referenced side. Arguments: the table's key, then for each reference to it
-- (referencing table, column, constraint). DELETE: a statement trigger with the deleted
-- rows as old_rows; UPDATE: a row trigger that fires only when the key changed; TRUNCATE:
-- after the truncation, whatever rows still name the table.
CREATE FUNCTION fk_check_referenced() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    key_col CONSTANT text := TG_ARGV[0];
    child text;
    col text;
    hit text;
    i int;
BEGIN
    FOR i IN 0 .. (TG_NARGS - 1) / 3 - 1 LOOP
        child := TG_ARGV[1 + 3 * i];
        col := TG_ARGV[2 + 3 * i];
        IF TG_OP = 'DELETE' THEN
            EXECUTE format('SELECT c.%1$I::text FROM %2$I.%3$I c'
                           ' WHERE c.%1$I IN (SELECT %4$I FROM old_rows)'
                           ' LIMIT 1 FOR KEY SHARE OF c',
                           col, TG_TABLE_SCHEMA, child, key_col) INTO hit;
        ELSIF TG_OP = 'UPDATE' THEN
            EXECUTE format('SELECT c.%1$I::text FROM %2$I.%3$I c'
                           ' WHERE c.%1$I = ($1).%4$I LIMIT 1 FOR KEY SHARE OF c',
                           col, TG_TABLE_SCHEMA, child, key_col) INTO hit USING OLD;
        ELSE
            EXECUTE format('SELECT c.%1$I::text FROM %2$I.%3$I c WHERE c.%1$I IS NOT NULL'
                           ' AND NOT EXISTS (SELECT FROM %2$I.%4$I p WHERE p.%5$I = c.%1$I)'
                           ' LIMIT 1',
                           col, TG_TABLE_SCHEMA, child, TG_TABLE_NAME, key_col) INTO hit;
        END IF;
        IF hit IS NOT NULL THEN
            RAISE EXCEPTION
                'update or delete on table "%" violates foreign key constraint "%" on table "%"',
                TG_TABLE_NAME, TG_ARGV[3 + 3 * i], child
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[3 + 3 * i],
                      TABLE = child, SCHEMA = TG_TABLE_SCHEMA,
                      DETAIL = format('Key (%s)=(%s) is still referenced from table "%s".',
                                      key_col, hit, child);
        END IF;
    END LOOP;
    RETURN NULL;
END
$fn$;

"""


def _script() -> str:
    """Drop the constraints, add the triggers that replace them, and ``fk_violations``."""
    by_child: dict[str, list[str]] = {}
    by_parent: dict[str, list[str]] = {}
    drops, checks = [], []
    for name, child, column, parent in REFERENCES:
        drops.append(f"ALTER TABLE {child} DROP CONSTRAINT {name};")
        by_child.setdefault(child, []).append(f"'{column}', '{parent}', 'id', '{name}'")
        by_parent.setdefault(parent, []).append(f"'{child}', '{column}', '{name}'")
        checks.append(
            f"SELECT '{name}', '{child}', c.id, c.{column} FROM {child} c"
            f" WHERE c.{column} IS NOT NULL"
            f" AND NOT EXISTS (SELECT FROM {parent} p WHERE p.id = c.{column})"
        )
    triggers = []
    for child, args in by_child.items():
        # One trigger per event: PostgreSQL gives transition tables to single-event triggers.
        call = f"FOR EACH STATEMENT EXECUTE FUNCTION fk_check_references({', '.join(args)});"
        triggers += [
            f"CREATE TRIGGER fk_references_insert AFTER INSERT ON {child}"
            f" REFERENCING NEW TABLE AS new_rows {call}",
            f"CREATE TRIGGER fk_references_update AFTER UPDATE ON {child}"
            f" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {call}",
        ]
    for parent, args in by_parent.items():
        listed = ", ".join(["'id'", *args])
        triggers += [
            f"CREATE TRIGGER fk_referenced_delete AFTER DELETE ON {parent}"
            " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION fk_check_referenced({listed});",
            f"CREATE TRIGGER fk_referenced_key AFTER UPDATE OF id ON {parent} FOR EACH ROW"
            " WHEN (OLD.id IS DISTINCT FROM NEW.id)"
            f" EXECUTE FUNCTION fk_check_referenced({listed});",
            f"CREATE TRIGGER fk_referenced_truncate AFTER TRUNCATE ON {parent}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION fk_check_referenced({listed});",
        ]
    violations = (
        "CREATE FUNCTION fk_violations()"
        " RETURNS TABLE (constraint_name text, table_name text, id integer, key integer)"
        " LANGUAGE sql STABLE AS $fn$\n" + "\nUNION ALL\n".join(checks) + "\n$fn$;"
    )
    known = "\n".join(
        f"        WHEN '{parent}.id' THEN SELECT count(*) INTO locked"
        f" FROM (SELECT FROM {parent} p WHERE p.id = ANY(keys) FOR KEY SHARE OF p) l;"
        for parent in sorted(by_parent)
    )
    # Names resolve in this schema only, pg_temp last: a temporary table of a session's own
    # cannot stand in for a parent.
    search_path = (
        "DO $$ BEGIN EXECUTE format('ALTER FUNCTION fk_check_references() SET search_path"
        " = %I, pg_temp', current_schema()); EXECUTE format('ALTER FUNCTION fk_check_few(text,"
        " text, text[], jsonb[], jsonb[]) SET search_path = %I, pg_temp', current_schema());"
        " END $$;"
    )
    functions = FUNCTIONS.replace("-- @known parents", known)
    return "\n".join([*drops, functions, search_path, *triggers, violations])


# The referencing columns become plain integers in the table classes (db/tables): recorded
# here for Piccolo's picture of the schema, which ``migrations new --auto`` compares them with.
TABLE_CLASSES = {"asset": "Asset", "sim": "Sim", "sim_fitting": "SimFitting"}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(_script())

    async def recorded_only(backwards: bool = False) -> None:
        """The SQL above made the change. Piccolo's own would re-type each column to the
        type it has (ALTER COLUMN … TYPE integer: an exclusive lock, every constraint on
        the column checked again, refused for a column a view reads)."""

    manager.add_raw(run)
    for _, child, column, _ in REFERENCES:
        manager.alter_column(
            table_class_name=TABLE_CLASSES[child],
            tablename=child,
            column_name=column,
            db_column_name=column,
            params={"default": None},
            old_params={"default": None},
            column_class=Integer,
            old_column_class=ForeignKey,
            schema=None,
        )
    manager._run_alter_columns = recorded_only  # type: ignore[method-assign]
    return manager
