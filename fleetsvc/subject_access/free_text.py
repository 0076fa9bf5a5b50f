"""Free text that names a person being pseudonymised, found and erased set-based.

People type free text (a device's notes, why a device moved, why one was written off) and
files bring it (an install job's comments, a row's cells), and messages the service wrote
quote values (a row issue: "UPN … is already held by employee …"). Any of it may name a
leaver. Every such column is listed in ``FREE_TEXT_COLUMNS``; a value that contains one of
the person's values (name, UPN or employee number, case and runs of spaces aside) is
replaced whole by ``[pseudonymised]``. The events' copies of free text are references
(``fleetsvc.audit.PERSONAL_FIELDS``, owner ``free``) and are erased by
``audit_forget_free_text``.

How it stays set-based: each known value's longest word is a key; each text is split into
words, joined to the keys by hash, and only those candidates are checked for the whole
value. Not caught: a part of a name alone ("Sgt Pryce"), or a name misspelt.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor

ERASED: Final = "[pseudonymised]"
# Trimmed from each end of a word before words are compared (as audit_forget_free_text).
PUNCTUATION: Final = """'.,;:!?()[]{}<>"'''"""

# Every column of free text a person can be named in: (table, column, which rows). Each
# table has an ``id``. A new free-text column must be listed here, or it is never searched.
FREE_TEXT_COLUMNS: Final = (
    ("asset", "notes", "true"),
    ("assignment", "end_reason", "true"),
    # A cancelled line's reason is the vocabulary's ("returned").
    ("recovery_line", "reason", "t.status <> 'cancelled'"),
    ("install_job", "comments", "true"),
    ("import_issue", "message", "true"),
    ("import_issue", "value", "true"),
    ("mdm_run_issue", "message", "true"),
    ("job", "error", "true"),
)

WORDS_TABLE: Final = "pseudonymise_words"
# From pseudonymise_known (retention): each value with spaces normalised, and its longest word.
_WORDS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS {WORDS_TABLE} (word text, v text) ON COMMIT DROP;
TRUNCATE {WORDS_TABLE};
INSERT INTO {WORDS_TABLE}
SELECT DISTINCT (SELECT btrim(w, {PUNCTUATION}) FROM regexp_split_to_table(n.v, ' ') AS w
                 ORDER BY length(btrim(w, {PUNCTUATION})) DESC, 1 LIMIT 1), n.v
FROM (SELECT regexp_replace(btrim(k.v), '\\s+', ' ', 'g') AS v FROM __KNOWN__ k) n
WHERE n.v <> '';
ANALYZE {WORDS_TABLE};
"""


def _normal(column: str) -> str:
    return f"regexp_replace(lower({column}), '\\s+', ' ', 'g')"


def _naming(texts_sql: str, keys: str) -> str:
    """The ``keys`` of each text of ``texts_sql`` (columns: the keys' and ``text``, already
    normalised) that holds a known value. Each text's words are listed once (MATERIALIZED)
    and hashed against the known values' words: joined inside each text's word list, the
    known words were sorted again for every text (80 s for 270,000 staged cells and 900
    known words, bench.pseudonymise)."""
    return f"""
WITH words AS MATERIALIZED (
    SELECT x.*, btrim(w.word, {PUNCTUATION}) AS word FROM ({texts_sql}) x
    CROSS JOIN LATERAL regexp_split_to_table(x.text, ' ') AS w(word)
)
SELECT DISTINCT {keys} FROM words x
JOIN {WORDS_TABLE} k ON k.word = x.word
WHERE strpos(x.text, k.v) > 0
"""


def hits_sql(table: str, column: str, where: str = "true", key: str = "t.id") -> str:
    """The ``key`` of each row of ``table`` whose ``column`` holds a known value."""
    return _naming(
        f"SELECT {key} AS id, {_normal(f't.{column}')} AS text FROM {table} t"
        f" WHERE t.{column} IS NOT NULL AND t.{column} <> '' AND ({where})",
        "x.id",
    )


_STAGED_CELLS = f"""
SELECT r.import_id, r.row_number, {_normal("c.cell")} AS text FROM import_staged_row r
CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE jsonb_typeof(r.cells) WHEN 'array' THEN r.cells ELSE '[]'::jsonb END) AS c(cell)
"""
_REJECTED_CELLS = f"""
SELECT r.import_id, r.row_number, {_normal("e.value")} AS text FROM import_rejected_row r
CROSS JOIN LATERAL jsonb_each_text(
    CASE jsonb_typeof(r.cells) WHEN 'object' THEN r.cells ELSE '{{}}'::jsonb END) AS e
"""
# Import rows whose cells hold a known value anywhere (a comments cell, a name in a cell
# of its own): to the rows retention clears (its pseudonymise_rows table).
_ROWS_SQL = f"""
INSERT INTO __ROWS__ (import_id, row_number)
({_naming(_STAGED_CELLS, "x.import_id, x.row_number")})
UNION
({_naming(_REJECTED_CELLS, "x.import_id, x.row_number")})
"""


async def prepare(conn: asyncpg.Connection, known_table: str) -> None:
    """The words to look for, from the known values (lower case) in ``known_table``."""
    await conn.execute(_WORDS_SQL.replace("__KNOWN__", known_table))


async def find_rows(conn: asyncpg.Connection, rows_table: str) -> None:
    """Add the import rows whose cells name them anywhere to ``rows_table``."""
    await conn.execute(_ROWS_SQL.replace("__ROWS__", rows_table))


async def erase(conn: asyncpg.Connection, actor: Actor) -> int:
    """Replace every free-text value that names them by ``[pseudonymised]``; how many. A
    device's notes are a change to the device: a new version and an event (which names
    no one)."""
    erased = 0
    for table, column, where in FREE_TEXT_COLUMNS:
        if table == "asset":
            await audit.record_from_query(
                conn,
                actor,
                "SELECT 'asset' AS entity, h.id AS entity_id, 'pseudonymised' AS action,"
                " NULL::jsonb AS before, jsonb_build_object('notes_erased', true) AS after"
                f" FROM ({hits_sql(table, column, where)}) h ORDER BY h.id",
            )
            bump = ", version = t.version + 1, updated_at = now()"
        else:
            bump = ""
        result = await conn.execute(
            f"UPDATE {table} t SET {column} = $1{bump}"
            f" FROM ({hits_sql(table, column, where)}) h WHERE t.id = h.id",
            ERASED,
        )
        erased += int(result.split()[-1])
    return erased
