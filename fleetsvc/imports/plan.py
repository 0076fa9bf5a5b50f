"""How an import decides what each row is: the plan table and the rules that fill it in.

Each evaluation builds a TEMP ``import_plan`` table (dropped at commit) from the staged rows,
joined to what the register already holds, then runs its profile kind's rules in order:
``plan_deliveries`` (vodafone-despatch, cdw-asn) or ``plan_installs`` (babcock-install). A
rule is one UPDATE that gives the rows it matches an outcome (``new``, ``unchanged``,
``duplicate``, ``conflict`` or ``rejected``) and a message naming what and where; a row keeps
the first outcome a rule gives it, and what no rule took is ``new``. A handful of statements
per import, never one per row; a rule that can find nothing (its guard, one aggregate over the
plan taken once for all of them, says so) is not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import asyncpg


@dataclass(frozen=True, slots=True)
class Plan:
    """A profile kind's plan: the statement that creates the table from the staged rows
    (``$1`` the import id), then its rules in the order they run."""

    create: str
    rules: tuple[str, ...]
    # The columns whose statistics the later statements need (all when empty): ANALYZE
    # samples every column named, and a people plan's names and messages are wide.
    analyze: tuple[str, ...] = ()
    # The same table made for a file of more than LARGE_FILE_ROWS rows (None: ``create``).
    create_large: str | None = None


# A file of more staged rows than this is planned by ``Plan.create_large``: reading the staged
# rows twice, where the smaller file's plan holds them once in memory (at about 420 bytes a
# row, 300,000 of them spill to disk past the 64 MB of work_mem: a 117 MB temporary file
# written, then read twice). bench.imports: the plan's CREATE of 29,737 rows 80 ms of the
# server's CPU held once, 90-100 read twice; of 300,000 rows, 640-690 ms held, 490 read twice.
LARGE_FILE_ROWS: Final = 100_000


# Rules that can only act on rows a condition over the whole plan allows: a key that repeats
# in the file, a row that matched something in the register. Where the guard (an aggregate
# over the plan, taken once after it is created) is false, as it is for the usual file, the
# rule would change nothing, and is not run (see build). A guard must hold whenever the rule
# could change a row, whatever the rules before it did.
GUARDS: Final[dict[str, str]] = {}


def guarded(statement: str, guard: str) -> str:
    """``statement``, run only where the aggregate ``guard`` over the plan is true."""
    GUARDS[statement] = guard
    return statement


# Rules that act only on rows some earlier statements of the plan (its lookups) matched: where
# none of those changed a row, they are not run either.
AFTER: Final[dict[str, tuple[str, ...]]] = {}


def after(statement: str, *lookups: str) -> str:
    """``statement``, run only where one of ``lookups`` (run before it) changed a row."""
    AFTER[statement] = lookups
    return statement


def repeats(column: str) -> str:
    """The guard of a rule acting on rows that share a value of ``column``."""
    return f"count({column}) > count(DISTINCT {column})"


def same_key_rejects(
    columns: tuple[str, ...],
    label: str,
    field: str,
    where: str = "true",
    undecided: str = "IS NULL",
) -> str:
    """Rows sharing a key but not identical: all of them rejected, naming (up to ten of) the
    others. Grouped, not self-joined, so a hostile file of one repeated key stays linear.
    ``undecided``: what a row's outcome is while no rule has decided it (the plan's own
    convention: NULL, or 'new' where the plan starts every row as new)."""
    key = ", ".join(columns)
    match = " AND ".join(f"g.{c} = p.{c}" for c in columns)
    sql = f"""
UPDATE import_plan p SET outcome = 'rejected', issue_field = '{field}',
    message = format('{label} %s is also on %s %s%s with different details; '
                     'these rows were all rejected',
                     p.{columns[0]}, CASE WHEN g.n = 2 THEN 'row' ELSE 'rows' END,
                     array_to_string((array_remove(g.first_rows, p.row_number))[1:10], ', '),
                     CASE WHEN g.n > 11 THEN format(' and %s more', g.n - 11) ELSE '' END)
FROM (
    SELECT kind, {key}, count(*) AS n,
           (array_agg(row_number ORDER BY row_number))[1:11] AS first_rows
    FROM import_plan
    WHERE parse_ok AND outcome IS DISTINCT FROM 'duplicate' AND ({where})
    GROUP BY kind, {key} HAVING count(*) > 1
) g
WHERE g.kind = p.kind AND {match} AND p.outcome {undecided}
"""
    # Rows sharing the whole key share its first column (NULLs never match).
    return guarded(sql, repeats(columns[0]))


# The plan table's statistics (its ANALYZE, and any a plan's rules take again) come from a
# sample of 3,000 rows, not 30,000: the rules need its row counts, null fractions and which
# keys are unique, which a sample that size gives as well, and sampling every row of a
# 29,737-row file was a quarter of classifying it.
STATISTICS_TARGET: Final = 10


async def build(
    conn: asyncpg.Connection, import_id: int, plan: Plan, *, staged_rows: int = 0
) -> int:
    """Create the import's plan table (of its ``staged_rows`` rows) and decide every row's
    outcome; returns how many rows the rules changed (0: every row is as the plan's CREATE
    made it)."""
    # The staged rows were COPYed moments ago: the table's statistics do not know them yet,
    # and a nested loop planned on "a few rows" is quadratic on 300,000. Hash joins are
    # right for every statement that reads the staged rows.
    await conn.execute("SET LOCAL enable_nestloop = off")
    large = plan.create_large is not None and staged_rows > LARGE_FILE_ROWS
    await conn.execute(plan.create_large if large and plan.create_large else plan.create, import_id)
    await conn.execute("RESET enable_nestloop")
    await conn.execute(f"SET LOCAL default_statistics_target = {STATISTICS_TARGET}")
    columns = f" ({', '.join(plan.analyze)})" if plan.analyze else ""
    await conn.execute(f"ANALYZE import_plan{columns}")
    guards = list(dict.fromkeys(GUARDS[r] for r in plan.rules if r in GUARDS))
    held: dict[str, bool] = {}
    if guards:
        row = await conn.fetchrow(
            "SELECT "
            + ", ".join(f"{g} AS g{i}" for i, g in enumerate(guards))
            + " FROM import_plan"
        )
        assert row is not None
        held = {g: bool(row[i]) for i, g in enumerate(guards)}
    changes: dict[str, int] = {}  # rows each statement run changed
    for statement in plan.rules:
        guard = GUARDS.get(statement)
        if guard is not None and not held[guard]:
            continue
        if statement in AFTER and not any(changes.get(s) for s in AFTER[statement]):
            continue
        status = await conn.execute(statement)
        changes[statement] = int(status.rsplit(" ", 1)[1]) if status.startswith("UPDATE ") else 0
    await conn.execute("RESET default_statistics_target")
    return sum(changes.values())


async def analyze(conn: asyncpg.Connection, *columns: str) -> None:
    """Statistics of these plan columns again, after rules have changed them (the same
    sample size as ``build``'s)."""
    await conn.execute(f"SET LOCAL default_statistics_target = {STATISTICS_TARGET}")
    await conn.execute(f"ANALYZE import_plan ({', '.join(columns)})")
    await conn.execute("RESET default_statistics_target")
