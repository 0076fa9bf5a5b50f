"""How an import decides what each row is: the plan table and the rules that fill it in.

Each evaluation builds a TEMP ``import_plan`` table (dropped at commit) from the staged rows,
joined to what the register already holds, then runs its profile kind's rules in order:
``plan_deliveries`` (vodafone-despatch, cdw-asn) or ``plan_installs`` (babcock-install). A
rule is one UPDATE that gives the rows it matches an outcome (``new``, ``unchanged``,
``duplicate``, ``conflict`` or ``rejected``) and a message naming what and where; a row keeps
the first outcome a rule gives it, and what no rule took is ``new``. A handful of statements
per import, never one per row.
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


# Rules that only act on rows sharing a value of this column: where no value of it repeats in
# the file (the usual case) they would change nothing, and are not run (see build).
REPEATS_OF: Final[dict[str, str]] = {}


def same_key_rejects(columns: tuple[str, ...], label: str, field: str, where: str = "true") -> str:
    """Rows sharing a key but not identical: all of them rejected, naming (up to ten of) the
    others. Grouped, not self-joined, so a hostile file of one repeated key stays linear."""
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
WHERE g.kind = p.kind AND {match} AND p.outcome IS NULL
"""
    # Rows sharing the whole key share its first column (NULLs never match).
    REPEATS_OF[sql] = columns[0]
    return sql


# The plan table's statistics (its ANALYZE, and any a plan's rules take again) come from a
# sample of 3,000 rows, not 30,000: the rules need its row counts, null fractions and which
# keys are unique, which a sample that size gives as well, and sampling every row of a
# 29,737-row file was a quarter of classifying it.
STATISTICS_TARGET: Final = 10


async def build(conn: asyncpg.Connection, import_id: int, plan: Plan) -> None:
    """Create the import's plan table and decide every row's outcome."""
    # The staged rows were COPYed moments ago: the table's statistics do not know them yet,
    # and a nested loop planned on "a few rows" is quadratic on 300,000. Hash joins are
    # right for every statement that reads the staged rows.
    await conn.execute("SET LOCAL enable_nestloop = off")
    await conn.execute(plan.create, import_id)
    await conn.execute("RESET enable_nestloop")
    await conn.execute(f"SET LOCAL default_statistics_target = {STATISTICS_TARGET}")
    columns = f" ({', '.join(plan.analyze)})" if plan.analyze else ""
    await conn.execute(f"ANALYZE import_plan{columns}")
    keys = sorted({REPEATS_OF[r] for r in plan.rules if r in REPEATS_OF})
    repeats = await conn.fetchrow(
        "SELECT "
        + ", ".join(f"count({k}) > count(DISTINCT {k}) AS {k}" for k in keys)
        + " FROM import_plan"
    )
    assert repeats is not None
    for statement in plan.rules:
        key = REPEATS_OF.get(statement)
        if key is not None and not repeats[key]:
            continue
        await conn.execute(statement)
    await conn.execute("RESET default_statistics_target")


async def analyze(conn: asyncpg.Connection, *columns: str) -> None:
    """Statistics of these plan columns again, after rules have changed them (the same
    sample size as ``build``'s)."""
    await conn.execute(f"SET LOCAL default_statistics_target = {STATISTICS_TARGET}")
    await conn.execute(f"ANALYZE import_plan ({', '.join(columns)})")
    await conn.execute("RESET default_statistics_target")
