"""Free text that names a person being pseudonymised, found and erased set-based.

People type free text (a device's notes, why a device moved, why one was written off) and
files bring it (an install job's comments, a row's cells), and messages the service wrote
quote values (a row issue: "UPN … is already held by employee …"). Any of it may name a
leaver. Every such column is listed in ``FREE_TEXT_COLUMNS`` (text inside JSON in
``FREE_TEXT_IN_JSON``); a value that contains one of the person's values (name, UPN or
employee number, or a word of their name no one else's has: retention's known values; case
and runs of spaces aside) is replaced whole by ``[pseudonymised]``. The events' copies of
free text are references (``fleetsvc.audit.PERSONAL_FIELDS``, owner ``free``) and are
erased by ``audit_forget_free_text``.

How it stays set-based: every text (each column's, each import row's cells) is listed once
and split into words once (at white space and ASCII punctuation); each known value is
looked for by the rarest of its words in those texts, joined to the texts' words by hash,
and only those candidates are checked for the whole value: a few statements a batch,
whatever the number of people. A value is found where one of its words stands as a word of
the text ("Pryce's" holds "pryce"; "Pryces" does not). Not caught: a name misspelt, or a
part of a name others share ("Sgt Jones").
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor

ERASED: Final = "[pseudonymised]"

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
    # Names people give things: an uploaded file ("leavers - R Pryce.csv"), a device in the
    # MDM ("Rhian's A32"; a name that is only theirs is cleared with the MDM user).
    ("delivery_import", "file_name", "true"),
    ("mdm_device", "device_name", "true"),
)

# Free text inside JSON: (table, the texts of its row t, how its rows h that name them are
# erased; $1 is ``ERASED``). Only the service writes the rest of these documents, from
# ids, counts and vocabulary (the rest of a job's payload, its result and progress; an
# import's counts and the rest of its summary): the whole-database test would see a name.
FREE_TEXT_IN_JSON: Final = (
    # Anyone's saved search whose terms name them: gone (terms are kept server-side only).
    (
        "saved_search",
        "SELECT t.id, q.term #>> '{}' FROM saved_search t CROSS JOIN LATERAL"
        " jsonb_path_query(t.query, 'strict $.** ? (@.type() == \"string\")') AS q(term)",
        "DELETE FROM saved_search t USING (__HITS__) h WHERE t.id = h.key",
    ),
    # A message waiting for a page ("Rhian Pryce saved"): dropped.
    (
        "user_session",
        "SELECT t.id, t.flash::text FROM user_session t WHERE t.flash IS NOT NULL",
        "UPDATE user_session t SET flash = NULL FROM (__HITS__) h WHERE t.id = h.key",
    ),
    # The file a finished import job read: a command's own path ("leavers - R Pryce.csv").
    # A job still to run keeps it (it reads the file); retention runs again tomorrow.
    (
        "job",
        "SELECT t.id, t.payload ->> 'path' FROM job t"
        " WHERE t.status IN ('succeeded', 'failed', 'cancelled') AND t.payload ->> 'path' <> ''",
        "UPDATE job t SET payload = jsonb_set(t.payload, '{path}', to_jsonb($1::text))"
        " FROM (__HITS__) h WHERE t.id = h.key",
    ),
    # Why an import committed nothing or failed (a database error can quote a value).
    (
        "delivery_import",
        "SELECT t.id, t.summary ->> 'message' FROM delivery_import t"
        " WHERE t.summary ->> 'message' <> ''",
        "UPDATE delivery_import t SET summary = jsonb_set(t.summary, '{message}',"
        " to_jsonb($1::text)) FROM (__HITS__) h WHERE t.id = h.key",
    ),
)

WORK_MEM: Final = "64MB"
WORDS_TABLE: Final = "pseudonymise_words"
TEXTS_TABLE: Final = "pseudonymise_texts"
TOKENS_TABLE: Final = "pseudonymise_tokens"
HITS_TABLE: Final = "pseudonymise_hits"
# What splits a text into words: white space and ASCII punctuation (a UPN is three words,
# "Pryce-Jones's" two and an "s"); letters outside ASCII stay in their words.
SPLIT: Final = r"[\s!-/:-@\[-`{-~]+"


def normal(column: str) -> str:
    """A text as it is searched: lower case, each run of white space one space."""
    return f"regexp_replace(lower({column}), '\\s+', ' ', 'g')"


# From pseudonymise_known (retention): each value normalised, with each of its words.
_WORDS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS {WORDS_TABLE} (v text, word text) ON COMMIT DROP;
TRUNCATE {WORDS_TABLE};
INSERT INTO {WORDS_TABLE}
SELECT DISTINCT n.v, w.word
FROM (SELECT btrim({normal("k.v")}) AS v FROM __KNOWN__ k) n
CROSS JOIN LATERAL regexp_split_to_table(n.v, '{SPLIT}') AS w(word)
WHERE n.v <> '' AND w.word <> '';
ANALYZE {WORDS_TABLE};
"""

# Import rows are searched cell by cell, and go whole (source, import_id, row_number).
STAGED: Final = "import_staged_row"
REJECTED: Final = "import_rejected_row"
_CELLS = {
    STAGED: "jsonb_array_elements_text(CASE jsonb_typeof(t.cells) WHEN 'array' THEN t.cells"
    " ELSE '[]'::jsonb END) AS c(cell)",
    REJECTED: "jsonb_each_text(CASE jsonb_typeof(t.cells) WHEN 'object' THEN t.cells"
    " ELSE '{}'::jsonb END) AS c(key, cell)",
}


def _sources_sql() -> str:
    """Every text to search, one row each: (source, key, row_number, text)."""
    parts = [
        f"SELECT {n}, t.id::bigint, NULL::integer, lower(t.{column}) FROM {table} t"
        f" WHERE t.{column} IS NOT NULL AND t.{column} <> '' AND ({where})"
        for n, (table, column, where) in enumerate(FREE_TEXT_COLUMNS)
    ]
    parts += [
        f"SELECT {_IN_JSON + n}, x.id::bigint, NULL::integer, lower(x.text)"
        f" FROM ({texts}) AS x(id, text) WHERE x.text <> ''"
        for n, (_, texts, _) in enumerate(FREE_TEXT_IN_JSON)
    ]
    # A row's cells as one text, " | " between them (no value spans it): a row goes whole,
    # and one text a row is split in 0.33 s where its six cells took 0.56 s (45,000 rows).
    parts += [
        f"SELECT {_CELLS_AT + n}, x.import_id::bigint, x.row_number, lower(x.text) FROM"
        f" (SELECT t.import_id, t.row_number, (SELECT string_agg(c.cell, ' | ') FROM {cells}"
        f" WHERE c.cell <> '') AS text FROM {table} t) x WHERE x.text IS NOT NULL"
        for n, (table, cells) in enumerate(_CELLS.items())
    ]
    return "\nUNION ALL\n".join(parts)


# Sources are numbered: the columns, the JSON documents, then the import rows' cells.
_IN_JSON = len(FREE_TEXT_COLUMNS)
_CELLS_AT = _IN_JSON + len(FREE_TEXT_IN_JSON)


def source_of(table: str, column: str = "cells") -> int:
    """The number ``_sources_sql`` gives the texts of ``table.column`` (``json``: the
    table's entry in ``FREE_TEXT_IN_JSON``)."""
    if column == "cells":
        return _CELLS_AT + list(_CELLS).index(table)
    if column == "json":
        return _IN_JSON + [t for t, _, _ in FREE_TEXT_IN_JSON].index(table)
    return [(t, c) for t, c, _ in FREE_TEXT_COLUMNS].index((table, column))


# Every text listed once, split into words once (keeping those that are words of a known
# value); then the search, one statement. Each known value is looked for by its rarest word
# in these texts (a name's "officer" or "jones", or a
# UPN's "force" and "uk", would pair it with thousands of texts; its number or surname with
# a few): the words are counted and each value's rarest one joined by hash to the texts'
# words, and only those candidates are checked for the whole value. A value none of whose
# words is a word of a text cannot be in it, so is never looked for. Tables the planner knows
# the size of (ANALYZE): guessed at 1,000 words a text, a merge join over 450 million pairs
# followed (69 s for 45,000 staged rows, bench.pseudonymise).
_SEARCH_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS {TEXTS_TABLE}
    (tid serial, source integer, key bigint, row_number integer, text text) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS {TOKENS_TABLE} (tid integer, word text) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS {HITS_TABLE} (source integer, key bigint, row_number integer)
    ON COMMIT DROP;
TRUNCATE {TEXTS_TABLE}, {TOKENS_TABLE}, {HITS_TABLE};
INSERT INTO {TEXTS_TABLE} (source, key, row_number, text) __SOURCES__;
INSERT INTO {TOKENS_TABLE}
SELECT x.tid, w.word FROM {TEXTS_TABLE} x
CROSS JOIN LATERAL regexp_split_to_table(x.text, '{SPLIT}') AS w(word)
WHERE w.word IN (SELECT word FROM {WORDS_TABLE});
ANALYZE {TEXTS_TABLE}, {TOKENS_TABLE};
INSERT INTO {HITS_TABLE}
WITH counted AS MATERIALIZED (
    SELECT t.word, count(*) AS n FROM {TOKENS_TABLE} t GROUP BY t.word
), keys AS MATERIALIZED (
    SELECT DISTINCT ON (w.v) w.v, w.word FROM {WORDS_TABLE} w JOIN counted c USING (word)
    ORDER BY w.v, c.n, w.word
), candidates AS MATERIALIZED (
    SELECT DISTINCT t.tid, k.v FROM {TOKENS_TABLE} t JOIN keys k USING (word)
)
SELECT DISTINCT x.source, x.key, x.row_number FROM candidates c JOIN {TEXTS_TABLE} x USING (tid)
WHERE strpos({normal("x.text")}, c.v) > 0;
ANALYZE {HITS_TABLE};
"""


async def prepare(conn: asyncpg.Connection, known_table: str) -> None:
    """The words to look for, from the known values (lower case) in ``known_table``; then
    every free text searched for them, once (``HITS_TABLE`` holds the texts that name them)."""
    # The words' sorts and hashes in memory, not spilled to disk (this transaction only).
    await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    await conn.execute(_WORDS_SQL.replace("__KNOWN__", known_table))
    # The texts' words are joined to the values' rarest ones, which the planner cannot know
    # are rare: it guesses most words match and sorts them all for a merge join (0.4 s a
    # batch), where a hash of the few keys serves.
    await conn.execute("SET LOCAL enable_mergejoin = off")
    await conn.execute(_SEARCH_SQL.replace("__SOURCES__", _sources_sql()))
    await conn.execute("SET LOCAL enable_mergejoin = on")


def hits_sql(table: str, column: str = "cells") -> str:
    """The keys (``key``, and ``row_number`` for import rows) of the texts of
    ``table.column`` that name them."""
    source = source_of(table, column)
    return f"SELECT h.key, h.row_number FROM {HITS_TABLE} h WHERE h.source = {source}"


async def find_rows(conn: asyncpg.Connection, rows_table: str) -> None:
    """Add the import rows whose cells name them anywhere to ``rows_table``."""
    for table in _CELLS:
        await conn.execute(
            f"INSERT INTO {rows_table} (import_id, row_number)"
            f" SELECT h.key, h.row_number FROM ({hits_sql(table)}) h"
        )


async def erase(conn: asyncpg.Connection, actor: Actor) -> int:
    """Replace every free-text value that names them by ``[pseudonymised]``; how many. A
    device's notes are a change to the device: a new version and an event (which names
    no one)."""
    erased = 0
    for table, column, _ in FREE_TEXT_COLUMNS:
        if table == "asset":
            await audit.record_from_query(
                conn,
                actor,
                "SELECT 'asset' AS entity, h.key AS entity_id, 'pseudonymised' AS action,"
                " NULL::jsonb AS before, jsonb_build_object('notes_erased', true) AS after"
                f" FROM ({hits_sql(table, column)}) h ORDER BY h.key",
            )
            bump = ", version = t.version + 1, updated_at = now()"
        else:
            bump = ""
        result = await conn.execute(
            f"UPDATE {table} t SET {column} = $1{bump}"
            f" FROM ({hits_sql(table, column)}) h WHERE t.id = h.key",
            ERASED,
        )
        erased += int(result.split()[-1])
    for table, _, erase_sql in FREE_TEXT_IN_JSON:
        sql = erase_sql.replace("__HITS__", hits_sql(table, "json"))
        result = await conn.execute(sql, *([ERASED] if "$1" in sql else []))
        erased += int(result.split()[-1])
    return erased
