"""Retention: a leaver past the retention period is pseudonymised, many at once.

``person.pseudonymised_at`` says when; a pseudonymised person's name and employee number
are their stable pseudonym (``person-<id>``, ``PERSON-<id>``) and they have no UPN, which
a CHECK holds to. ``audit_forget_people`` is ``audit_forget_person`` for a set of people in
one statement (10,000 leavers a night must not be 10,000 round trips): every personal value
held for them is erased, and one ``personal_data_forgotten`` event is written per person.
Events by a page user are found by ``actor_name`` (subject access): indexed.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "retention: pseudonymised people; forgetting many people at once"

SQL = r"""
ALTER TABLE person ADD COLUMN pseudonymised_at timestamptz;
ALTER TABLE person ADD CONSTRAINT person_pseudonymised_chk CHECK (
    pseudonymised_at IS NULL
    OR (upn IS NULL AND display_name = 'person-' || id AND employee_number = 'PERSON-' || id
        AND NOT active));
-- The leavers the daily run looks at: those not yet pseudonymised, by leaving date.
CREATE INDEX person_leaver_due_idx ON person (left_on)
    WHERE NOT active AND pseudonymised_at IS NULL;
-- Subject access: the events a page user made.
CREATE INDEX event_actor_idx ON event (actor_name, id);
-- Pseudonymisation finds the MDM's records and the page accounts that name a person.
CREATE INDEX asset_mdm_user_upn_idx ON asset (lower(mdm_user_upn))
    WHERE mdm_user_upn IS NOT NULL;
COMMENT ON INDEX asset_mdm_user_upn_idx IS
    'retention and subject access: the devices the MDM names a person on, by UPN';
CREATE INDEX mdm_device_user_upn_idx ON mdm_device (lower(user_upn)) WHERE user_upn IS NOT NULL;

CREATE FUNCTION audit_forget_people(p_people integer[], p_pseudonyms text[], p_actor_name text,
                                    p_actor_role text, p_request_id text) RETURNS integer
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
        WHERE v.person_id IS NULL AND v.value IS NOT NULL
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

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION audit_forget_people(integer[], text[], text, text, text)'
                   ' SET search_path = %I, pg_temp', current_schema());
    REVOKE ALL ON FUNCTION audit_forget_people(integer[], text[], text, text, text) FROM PUBLIC;
END $$;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
