"""Free text in events is kept apart like personal values, and erased when it names a
person being forgotten.

A move's reason, an asset's notes and a recovery line's write-off reason are typed by
people and may name anyone ("handed in by PC Rhian Pryce"). Events now hold them as
``{"$personal": id}`` too (``fleetsvc.audit.PERSONAL_FIELDS``, owner ``free``): stored in
``personal_value`` with no person, since whom they name is not known when written.

- ``audit_forget_free_text`` erases, set-based, every such value that contains a value of
  the people being forgotten (a name, UPN or employee number, case and spacing aside). It
  finds candidates by a hash join on the value's longest word (a scan of each text's words,
  not a comparison of every text with every value), then checks the whole value is there.
- Free text can be long (notes hold 10,000 characters): the index of values that name
  nobody, which ``audit_forget_person(s)`` look up by value, leaves it out, and those
  functions say so in their queries (else the index would no longer serve them).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T08:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit: free text kept apart and erased when it names a forgotten person"

FREE = "('notes', 'reason')"
# Trimmed from each end of a word before words are compared.
PUNCTUATION = """'.,;:!?()[]{}<>"'''"""

SQL = r"""
DROP INDEX personal_value_unowned_idx;
CREATE INDEX personal_value_unowned_idx ON personal_value (lower(value))
    WHERE person_id IS NULL AND value IS NOT NULL AND field NOT IN {free};
CREATE INDEX personal_value_free_idx ON personal_value (id)
    WHERE person_id IS NULL AND value IS NOT NULL AND field IN {free};
COMMENT ON INDEX personal_value_free_idx IS
    'audit_forget_free_text: the free text (reasons, notes) that names nobody it knows';

CREATE OR REPLACE FUNCTION audit_forget_person(p_person integer, p_pseudonym text,
                                               p_actor_name text, p_actor_role text,
                                               p_request_id text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    erased integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM person WHERE id = p_person) THEN
        RETURN NULL;
    END IF;
    WITH known AS (
        SELECT lower(v.value) AS value FROM personal_value v
        WHERE v.person_id = p_person AND v.value IS NOT NULL
        UNION
        SELECT lower(p.upn) FROM person p WHERE p.id = p_person AND p.upn IS NOT NULL
    )
    UPDATE personal_value v SET value = NULL, pseudonym = p_pseudonym, forgotten_at = now()
    WHERE v.value IS NOT NULL
      AND (v.person_id = p_person
           OR (v.person_id IS NULL AND v.field NOT IN {free}
               AND lower(v.value) IN (SELECT k.value FROM known k)));
    GET DIAGNOSTICS erased = ROW_COUNT;
    INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action, after)
    VALUES (p_actor_name, p_actor_role, p_request_id, 'person', p_person,
            'personal_data_forgotten',
            jsonb_build_object('values_erased', erased, 'pseudonym', p_pseudonym));
    RETURN erased;
END $$;

CREATE OR REPLACE FUNCTION audit_forget_people(p_people integer[], p_pseudonyms text[],
                                               p_actor_name text, p_actor_role text,
                                               p_request_id text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    forgotten integer;
BEGIN
    IF cardinality(p_people) IS DISTINCT FROM cardinality(p_pseudonyms) THEN
        RAISE EXCEPTION 'audit_forget_people: one pseudonym per person'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH target AS MATERIALIZED (
        SELECT DISTINCT ON (u.person_id) u.person_id, u.pseudonym
        FROM unnest(p_people, p_pseudonyms) AS u(person_id, pseudonym)
        JOIN person p ON p.id = u.person_id
        ORDER BY u.person_id
    ), known AS MATERIALIZED (
        SELECT t.person_id, lower(v.value) AS value
        FROM target t JOIN personal_value v ON v.person_id = t.person_id
        WHERE v.value IS NOT NULL
        UNION
        SELECT t.person_id, lower(p.upn) FROM target t JOIN person p ON p.id = t.person_id
        WHERE p.upn IS NOT NULL
    ), hit AS (
        SELECT v.id, t.person_id, t.pseudonym
        FROM personal_value v JOIN target t ON t.person_id = v.person_id
        WHERE v.value IS NOT NULL
        UNION ALL
        SELECT v.id, t.person_id, t.pseudonym
        FROM personal_value v
        JOIN known k ON lower(v.value) = k.value
        JOIN target t ON t.person_id = k.person_id
        WHERE v.person_id IS NULL AND v.value IS NOT NULL AND v.field NOT IN {free}
    ), erased AS (
        UPDATE personal_value v SET value = NULL, pseudonym = h.pseudonym, forgotten_at = now()
        FROM (SELECT DISTINCT ON (id) id, person_id, pseudonym FROM hit ORDER BY id, person_id) h
        WHERE v.id = h.id
        RETURNING h.person_id
    ), counts AS (
        SELECT person_id, count(*) AS n FROM erased GROUP BY person_id
    )
    INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action, after)
    SELECT p_actor_name, p_actor_role, p_request_id, 'person', t.person_id,
           'personal_data_forgotten',
           jsonb_build_object('values_erased', COALESCE(c.n, 0), 'pseudonym', t.pseudonym)
    FROM target t LEFT JOIN counts c ON c.person_id = t.person_id
    ORDER BY t.person_id;
    GET DIAGNOSTICS forgotten = ROW_COUNT;
    RETURN forgotten;
END $$;

-- Free text (reasons, notes) naming nobody it knows, that holds a value of one of these
-- people: erased, reads then show the pseudonym of the first of them it names. Call it
-- before audit_forget_people, while their values are still there. Returns how many.
CREATE FUNCTION audit_forget_free_text(p_people integer[], p_pseudonyms text[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    erased integer;
BEGIN
    IF cardinality(p_people) IS DISTINCT FROM cardinality(p_pseudonyms) THEN
        RAISE EXCEPTION 'audit_forget_free_text: one pseudonym per person'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH target AS MATERIALIZED (
        SELECT DISTINCT ON (u.person_id) u.person_id, u.pseudonym
        FROM unnest(p_people, p_pseudonyms) AS u(person_id, pseudonym)
        JOIN person p ON p.id = u.person_id
        ORDER BY u.person_id
    ), known AS MATERIALIZED (
        SELECT DISTINCT k.person_id, k.v,
               (SELECT btrim(w, {punctuation}) FROM regexp_split_to_table(k.v, ' ') AS w
                ORDER BY length(btrim(w, {punctuation})) DESC, 1 LIMIT 1) AS word
        FROM (
            SELECT t.person_id, regexp_replace(lower(btrim(v.value)), '\s+', ' ', 'g') AS v
            FROM target t JOIN personal_value v ON v.person_id = t.person_id
            WHERE v.value IS NOT NULL
            UNION ALL
            SELECT t.person_id, regexp_replace(lower(btrim(x.value)), '\s+', ' ', 'g')
            FROM target t JOIN person p ON p.id = t.person_id
            CROSS JOIN LATERAL unnest(ARRAY[p.display_name, p.employee_number, p.upn])
                AS x(value)
            WHERE x.value IS NOT NULL
        ) k WHERE k.v <> ''
    ), free AS MATERIALIZED (
        SELECT v.id, regexp_replace(lower(v.value), '\s+', ' ', 'g') AS text
        FROM personal_value v
        WHERE v.person_id IS NULL AND v.value IS NOT NULL AND v.field IN {free}
    ), hit AS (
        SELECT DISTINCT ON (f.id) f.id, t.pseudonym
        FROM free f
        CROSS JOIN LATERAL regexp_split_to_table(f.text, ' ') AS w(word)
        JOIN known k ON k.word = btrim(w.word, {punctuation})
        JOIN target t ON t.person_id = k.person_id
        WHERE strpos(f.text, k.v) > 0
        ORDER BY f.id, t.person_id
    )
    UPDATE personal_value v SET value = NULL, pseudonym = h.pseudonym, forgotten_at = now()
    FROM hit h WHERE v.id = h.id;
    GET DIAGNOSTICS erased = ROW_COUNT;
    RETURN erased;
END $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['audit_forget_person(integer, text, text, text, text)',
                             'audit_forget_people(integer[], text[], text, text, text)',
                             'audit_forget_free_text(integer[], text[])'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL.replace("{free}", FREE).replace("{punctuation}", PUNCTUATION))

    manager.add_raw(run)
    return manager
