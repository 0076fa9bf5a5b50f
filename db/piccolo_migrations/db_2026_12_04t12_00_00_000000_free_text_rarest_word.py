"""``audit_forget_free_text`` looks for each value by its rarest word, as
``fleetsvc.subject_access.free_text`` does for the tables' free text.

It looked for each value by its longest word: every display name of the form "Officer 123"
has "officer", so 5,000 leavers' names were each checked against every reason that says
"officer" (12.6 s for one batch of 5,000, bench.pseudonymise). Now the free text's words are
listed once (split at white space and ASCII punctuation) and counted, each value is looked
for by the word of its own that is rarest in them, joined by hash, and only those
candidates are checked for the whole value. Lists the planner knows the size of: temporary
tables, analysed (an unnest or a split is guessed at 10 or 1,000 rows, and merge joins of
millions of pairs followed). A value is found where one of its words is a word of the text
(so "Pryce's" holds "pryce", which the longest word, "pryce's" as a word, missed).

A part of a name alone ("Sgt Pryce") is found too: a word of a name of theirs (three
characters or more, a letter among them) that no one else's name in the register has is one
of their values here (as ``fleetsvc.subject_access.retention``); a word others share
("Jones") names no one in particular and is left.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit: free text found by each forgotten value's rarest word"

FREE = "('notes', 'reason')"
# Where a text splits into words: as fleetsvc.subject_access.free_text.SPLIT.
SPLIT = r"[\s!-/:-@\[-`{-~]+"

SQL = r"""
CREATE OR REPLACE FUNCTION audit_forget_free_text(p_people integer[], p_pseudonyms text[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    erased integer;
    present integer;
    own integer;
BEGIN
    IF cardinality(p_people) IS DISTINCT FROM cardinality(p_pseudonyms) THEN
        RAISE EXCEPTION 'audit_forget_free_text: one pseudonym per person'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Its lists are temporary tables of its own. The caller's session could have made ones
    -- of the same names first (with a trigger that would run as this function's owner):
    -- any that this role does not own is refused.
    SELECT count(c.oid), count(c.oid) FILTER (WHERE c.relowner = r.oid) INTO present, own
    FROM unnest(ARRAY[to_regclass('pg_temp.forget_target'), to_regclass('pg_temp.forget_known'),
                      to_regclass('pg_temp.forget_words'), to_regclass('pg_temp.forget_tokens')])
        AS t(oid)
    JOIN pg_class c ON c.oid = t.oid
    CROSS JOIN (SELECT oid FROM pg_roles WHERE rolname = current_user) r;
    IF own <> present OR present NOT IN (0, 4) THEN
        RAISE EXCEPTION 'audit_forget_free_text: its temporary tables are not its own'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF present = 0 THEN
        CREATE TEMP TABLE pg_temp.forget_target (person_id integer PRIMARY KEY, pseudonym text)
            ON COMMIT DROP;
        CREATE TEMP TABLE pg_temp.forget_known (person_id integer, pseudonym text, v text)
            ON COMMIT DROP;
        CREATE TEMP TABLE pg_temp.forget_words (v text, word text) ON COMMIT DROP;
        CREATE TEMP TABLE pg_temp.forget_tokens (id bigint, word text) ON COMMIT DROP;
    ELSE
        TRUNCATE pg_temp.forget_target, pg_temp.forget_known, pg_temp.forget_words,
            pg_temp.forget_tokens;
    END IF;
    INSERT INTO pg_temp.forget_target
    SELECT DISTINCT ON (u.person_id) u.person_id, u.pseudonym
    FROM unnest(p_people, p_pseudonyms) AS u(person_id, pseudonym)
    JOIN person p ON p.id = u.person_id
    ORDER BY u.person_id;
    ANALYZE pg_temp.forget_target;
    -- Their values, normalised (lower case, a run of white space as one space).
    INSERT INTO pg_temp.forget_known
    SELECT DISTINCT t.person_id, t.pseudonym, n.v
    FROM pg_temp.forget_target t
    CROSS JOIN LATERAL (
        SELECT v.value FROM personal_value v
        WHERE v.person_id = t.person_id AND v.value IS NOT NULL
        UNION ALL
        SELECT x.value FROM person p
        CROSS JOIN LATERAL unnest(ARRAY[p.display_name, p.employee_number, p.upn]) AS x(value)
        WHERE p.id = t.person_id AND x.value IS NOT NULL
    ) k
    CROSS JOIN LATERAL (SELECT btrim(regexp_replace(lower(k.value), '\s+', ' ', 'g')) AS v) n
    WHERE n.v <> '';
    -- A part of a name alone: a word of a name of theirs (three characters or more, a
    -- letter among them) that no one else's name has (fleetsvc.subject_access.retention).
    INSERT INTO pg_temp.forget_known
    SELECT DISTINCT m.person_id, m.pseudonym, m.word FROM (
        SELECT t.person_id, t.pseudonym, w.word FROM pg_temp.forget_target t
        CROSS JOIN LATERAL (
            SELECT p.display_name FROM person p WHERE p.id = t.person_id
            UNION ALL
            SELECT v.value FROM personal_value v
            WHERE v.person_id = t.person_id AND v.field = 'display_name' AND v.value IS NOT NULL
        ) n(name)
        CROSS JOIN LATERAL regexp_split_to_table(lower(n.name), '{split}') AS w(word)
        WHERE length(w.word) >= 3 AND w.word ~ '[[:alpha:]]'
    ) m
    WHERE NOT EXISTS (
        SELECT 1 FROM person o
        CROSS JOIN LATERAL regexp_split_to_table(lower(o.display_name), '{split}') AS x(word)
        WHERE x.word = m.word
          AND NOT EXISTS (SELECT 1 FROM pg_temp.forget_target b WHERE b.person_id = o.id));
    INSERT INTO pg_temp.forget_words
    SELECT DISTINCT k.v, w.word FROM (SELECT DISTINCT v FROM pg_temp.forget_known) k
    CROSS JOIN LATERAL regexp_split_to_table(k.v, '{split}') AS w(word) WHERE w.word <> '';
    -- The free text naming nobody it knows, split into words once.
    INSERT INTO pg_temp.forget_tokens
    SELECT v.id, w.word FROM personal_value v
    CROSS JOIN LATERAL regexp_split_to_table(lower(v.value), '{split}') AS w(word)
    WHERE v.person_id IS NULL AND v.value IS NOT NULL AND v.field IN {free}
      AND w.word IN (SELECT word FROM pg_temp.forget_words);
    ANALYZE pg_temp.forget_known, pg_temp.forget_words, pg_temp.forget_tokens;
    WITH counted AS MATERIALIZED (
        SELECT t.word, count(*) AS n FROM pg_temp.forget_tokens t GROUP BY t.word
    ), keys AS MATERIALIZED (
        SELECT DISTINCT ON (w.v) w.v, w.word
        FROM pg_temp.forget_words w JOIN counted c USING (word)
        ORDER BY w.v, c.n, w.word
    ), candidates AS MATERIALIZED (
        SELECT DISTINCT t.id, k.v FROM pg_temp.forget_tokens t JOIN keys k USING (word)
    ), hit AS (
        -- Reads show the pseudonym of the first of them it names.
        SELECT DISTINCT ON (c.id) c.id, k.pseudonym
        FROM candidates c
        JOIN personal_value v ON v.id = c.id
        JOIN pg_temp.forget_known k ON k.v = c.v
        WHERE strpos(regexp_replace(lower(v.value), '\s+', ' ', 'g'), c.v) > 0
        ORDER BY c.id, k.person_id
    )
    UPDATE personal_value v SET value = NULL, pseudonym = h.pseudonym, forgotten_at = now()
    FROM hit h WHERE v.id = h.id;
    GET DIAGNOSTICS erased = ROW_COUNT;
    RETURN erased;
END $$;

DO $$
BEGIN
    -- CREATE OR REPLACE replaced the function's settings: its search path again.
    EXECUTE format('ALTER FUNCTION audit_forget_free_text(integer[], text[])'
                   ' SET search_path = %I, pg_temp', current_schema());
    -- Its sorts and hashes of every free text's words in memory, during the call only.
    ALTER FUNCTION audit_forget_free_text(integer[], text[]) SET work_mem = '64MB';
    REVOKE ALL ON FUNCTION audit_forget_free_text(integer[], text[]) FROM PUBLIC;
END $$;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL.replace("{free}", FREE).replace("{split}", SPLIT))

    manager.add_raw(run)
    return manager
