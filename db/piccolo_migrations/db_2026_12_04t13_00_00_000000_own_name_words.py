"""A part of a name that names a person alone, stated once: ``own_name_words``.

The rule ("a word of their name no one else's has": three characters or more, a letter
among them, in a name of theirs now or before, and in no one else's name in the register)
was written twice, in retention's SQL (``fleetsvc.subject_access.retention``, run as the
service) and in ``audit_forget_free_text`` (migration 2026-12-04T12:00:00, run as the
owner), which could drift apart: one erasing "Pryce" in the tables, the other leaving it in
the events. Now both call ``own_name_words(people)``, (person_id, word) for the people
being pseudonymised (the others are "no one else"). It is SECURITY INVOKER, STABLE: it
reads ``person`` and ``personal_value`` with its caller's rights (the service may read
both). It has no search path of its own, so the planner inlines it into the caller's
statement and plans it with the list's value: with ``SET search_path`` it took 0.35 s for
5,000 people (the list a parameter of an opaque plan, the others' words spilled to disk),
inlined 0.09 s, where retention's own statement took 0.08 s. Its names resolve in its
caller's path, which changes only what that caller reads with its own rights;
``audit_forget_free_text`` calls it with its own path (this schema, then pg_temp). The
service's EXECUTE is ``db.privileges.apply_policy``'s, as for every function of ours.

``audit_forget_free_text`` is the 2026-12-04T12:00:00 one with that call in place of its
own copy of the rule.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "people: the words that name a person alone, one function retention and audit call"

FREE = "('notes', 'reason')"
# Where a text splits into words: as fleetsvc.subject_access.free_text.SPLIT.
SPLIT = r"[\s!-/:-@\[-`{-~]+"

SQL = r"""
-- The one statement of the rule: words of their names (now or before; three characters or
-- more, a letter among them) that no one else's name in the register has. A word is theirs
-- alone when it stands in the register's names as often as in their own names now: no id
-- is compared with the list (a NULL or an id twice in it changes nothing), and the others'
-- names are split once and kept only where a word is one of theirs.
CREATE OR REPLACE FUNCTION own_name_words(p_people integer[])
RETURNS TABLE (person_id integer, word text) LANGUAGE sql STABLE SECURITY INVOKER AS $$
    WITH named_now AS MATERIALIZED (
        SELECT p.id AS person_id, w.word FROM person p
        CROSS JOIN LATERAL regexp_split_to_table(lower(p.display_name), '{split}') AS w(word)
        WHERE p.id = ANY (p_people) AND length(w.word) >= 3 AND w.word ~ '[[:alpha:]]'
    ), theirs AS MATERIALIZED (
        SELECT n.person_id, n.word FROM named_now n
        UNION
        SELECT v.person_id, w.word FROM personal_value v
        CROSS JOIN LATERAL regexp_split_to_table(lower(v.value), '{split}') AS w(word)
        WHERE v.person_id = ANY (p_people) AND v.field = 'display_name' AND v.value IS NOT NULL
          AND length(w.word) >= 3 AND w.word ~ '[[:alpha:]]'
    ), in_the_register AS (
        SELECT x.word, count(*) AS n FROM person o
        CROSS JOIN LATERAL regexp_split_to_table(lower(o.display_name), '{split}') AS x(word)
        WHERE x.word IN (SELECT t.word FROM theirs t)
        GROUP BY x.word
    ), in_theirs_now AS (
        SELECT n.word, count(*) AS n FROM named_now n GROUP BY n.word
    )
    SELECT t.person_id, t.word FROM theirs t
    LEFT JOIN in_the_register r USING (word)
    LEFT JOIN in_theirs_now m USING (word)
    WHERE coalesce(r.n, 0) = coalesce(m.n, 0)
$$;
COMMENT ON FUNCTION own_name_words(integer[]) IS
    'Words of these people''s names (current or past, 3+ characters, a letter among them)'
    ' that no one else''s name has: a part of a name that names them alone.';

CREATE OR REPLACE FUNCTION audit_forget_free_text(p_people integer[], p_pseudonyms text[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    erased integer;
    present integer;
    own integer;
    people integer[];
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
    -- A part of a name alone ("Sgt Pryce"): own_name_words, the rule retention keeps too
    -- (the list a variable: a subquery as its argument would stop it being inlined).
    people := ARRAY(SELECT person_id FROM pg_temp.forget_target);
    INSERT INTO pg_temp.forget_known
    SELECT DISTINCT t.person_id, t.pseudonym, w.word
    FROM own_name_words(people) w
    JOIN pg_temp.forget_target t USING (person_id);
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
    REVOKE ALL ON FUNCTION own_name_words(integer[]) FROM PUBLIC;
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
