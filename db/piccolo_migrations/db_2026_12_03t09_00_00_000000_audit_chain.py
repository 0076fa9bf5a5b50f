"""The audit trail becomes tamper-evident, and holds no personal data in clear.

Chain: every committed transaction that wrote events is sealed at its commit into
``event_seal`` (one row per transaction: its event ids in id order and the chain hash
after each), under a lock on the one ``event_chain_head`` row taken only then. So the
chain's order is commit order, a transaction that rolls back leaves nothing, and the
lock is never held while a transaction still runs its own statements (it cannot
deadlock with row locks taken after an event was written). Each event's hash is
``sha256(previous hash || sha256(canonical text))``; the canonical text is
``event_canonical(event)``, reproducible from the stored row. The digests are computed
per INSERT/COPY statement (a statement trigger over its transition table), before the
lock; at commit only the sequential chaining and one INSERT remain.

Personal data: a person's name, UPN and employee number, and an MDM user's UPN, are
kept in ``personal_value`` and events hold ``{"$personal": id}`` in their place, so the
chain covers the reference and pseudonymisation erases the value without touching an
event. Events written before this migration are converted here, once, before they are
sealed (the one time event rows are rewritten: there was no chain yet to break).

The tables the service must not write directly are guarded by triggers as well as by
privileges; the functions that write them are SECURITY DEFINER (owned by the migration
role) with a fixed search_path.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit: hash chain sealed at commit; personal values kept apart from events"

SQL = r"""
-- Personal values the audit trail refers to; erased (value NULL) when a person is forgotten.
CREATE TABLE personal_value (
    id bigserial PRIMARY KEY,
    person_id integer,                  -- whose, when known (an MDM UPN may name nobody we know)
    field varchar(32) NOT NULL,         -- display_name, upn, employee_number, mdm_user_upn, ...
    value text,                         -- NULL once erased
    pseudonym text,                     -- what reads show once erased
    forgotten_at timestamptz,
    CONSTRAINT personal_value_erased_chk CHECK ((value IS NULL) = (forgotten_at IS NOT NULL))
);
CREATE INDEX personal_value_person_idx ON personal_value (person_id) WHERE person_id IS NOT NULL;
-- Values that named nobody when written are found by value when their person is forgotten.
CREATE INDEX personal_value_unowned_idx ON personal_value (lower(value))
    WHERE person_id IS NULL AND value IS NOT NULL;

-- Events written so far: their personal values move out, references stay.
ALTER TABLE event DISABLE TRIGGER event_no_update_delete;
WITH fields (entity, field, by_upn) AS (VALUES
    ('person', 'display_name', false), ('person', 'upn', false),
    ('person', 'employee_number', false), ('asset', 'mdm_user_upn', true),
    ('user', 'email', true)
), found AS MATERIALIZED (
    SELECT nextval('personal_value_id_seq') AS pv_id, e.id AS event_id, d.side, f.field,
           d.doc ->> f.field AS value,
           CASE WHEN f.by_upn THEN (SELECT p.id FROM person p
                                    WHERE lower(p.upn) = lower(d.doc ->> f.field)
                                    ORDER BY p.id LIMIT 1)
                ELSE e.entity_id::integer END AS person_id
    FROM event e
    JOIN fields f ON f.entity = e.entity
    CROSS JOIN LATERAL (VALUES ('before', e.before), ('after', e.after)) AS d(side, doc)
    WHERE jsonb_typeof(d.doc -> f.field) = 'string'
), stored AS (
    INSERT INTO personal_value (id, person_id, field, value)
    SELECT pv_id, person_id, field, value FROM found
), refs AS (
    SELECT event_id,
           jsonb_object_agg(field, jsonb_build_object('$personal', pv_id))
               FILTER (WHERE side = 'before') AS before_refs,
           jsonb_object_agg(field, jsonb_build_object('$personal', pv_id))
               FILTER (WHERE side = 'after') AS after_refs
    FROM found GROUP BY event_id
)
UPDATE event e
SET before = CASE WHEN r.before_refs IS NULL THEN e.before ELSE e.before || r.before_refs END,
    after = CASE WHEN r.after_refs IS NULL THEN e.after ELSE e.after || r.after_refs END
FROM refs r WHERE e.id = r.event_id;
ALTER TABLE event ENABLE TRIGGER event_no_update_delete;

-- The canonical text of an event: a JSON array of its columns, jsonb's own text form for
-- before and after (keys ordered, one spelling per value), the time as UTC text.
CREATE FUNCTION event_canonical(e event) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
RETURN jsonb_build_array(
    e.id, to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    e.actor_name, e.actor_role, e.request_id, e.entity, e.entity_id, e.action,
    e.before, e.after)::text;

-- The chain hash after each digest, starting from prev.
CREATE FUNCTION event_chain(prev bytea, digests bytea[]) RETURNS bytea[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h bytea := prev;
    d bytea;
    chained bytea[] := '{}';
BEGIN
    FOREACH d IN ARRAY digests LOOP
        h := sha256(h || d);
        chained := chained || h;
    END LOOP;
    RETURN chained;
END $$;

CREATE TABLE event_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq bigint NOT NULL,       -- the last seal
    events bigint NOT NULL,    -- events in the chain
    hash bytea NOT NULL        -- the chain hash after its last event
);
INSERT INTO event_chain_head (seq, events, hash) VALUES (0, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE event_seal (
    seq bigint PRIMARY KEY,    -- 1, 2, 3, ... in commit order
    event_ids bigint[] NOT NULL,
    hashes bytea[] NOT NULL,   -- the chain hash after each of event_ids
    CONSTRAINT event_seal_shape_chk CHECK (cardinality(event_ids) = cardinality(hashes)
                                           AND cardinality(event_ids) > 0)
);
ALTER TABLE event_seal ALTER COLUMN hashes SET STORAGE EXTERNAL;  -- hashes do not compress

-- Events of transactions still running: their digests, per statement, until commit.
CREATE UNLOGGED TABLE event_pending (
    txid xid8 NOT NULL,
    event_ids bigint[] NOT NULL,
    digests bytea[] NOT NULL
);
CREATE INDEX event_pending_txid_idx ON event_pending (txid);

-- Events already written: sealed in id order, in blocks of 50,000.
DO $$
DECLARE
    v_head event_chain_head;
    v_block record;
    v_hashes bytea[];
BEGIN
    FOR v_block IN
        SELECT array_agg(id ORDER BY id) AS ids,
               array_agg(sha256(convert_to(event_canonical(e), 'UTF8')) ORDER BY id) AS digests
        FROM (SELECT e, e.id, (row_number() OVER (ORDER BY e.id) - 1) / 50000 AS n FROM event e) x
        GROUP BY n ORDER BY n
    LOOP
        SELECT * INTO v_head FROM event_chain_head;
        v_hashes := event_chain(v_head.hash, v_block.digests);
        INSERT INTO event_seal (seq, event_ids, hashes)
        VALUES (v_head.seq + 1, v_block.ids, v_hashes);
        UPDATE event_chain_head
        SET seq = v_head.seq + 1, events = v_head.events + cardinality(v_block.ids),
            hash = v_hashes[cardinality(v_hashes)];
    END LOOP;
END $$;

-- Each INSERT or COPY into event: its rows' digests, computed now, outside any lock.
-- The chain is extended at commit from the latest head, which only a READ COMMITTED
-- transaction sees (a REPEATABLE READ one would fail at commit whenever another had
-- sealed since its snapshot): refused at once, so the mistake shows the first time.
CREATE FUNCTION event_collect() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'events are written in READ COMMITTED transactions only, not %',
            upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'feature_not_supported';
    END IF;
    INSERT INTO event_pending (txid, event_ids, digests)
    SELECT pg_current_xact_id(), array_agg(e.id ORDER BY e.id),
           array_agg(sha256(convert_to(event_canonical(e), 'UTF8')) ORDER BY e.id)
    FROM new_events e
    HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER event_collect AFTER INSERT ON event REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION event_collect();

-- At commit: the transaction's events, in id order, join the chain after the head.
CREATE FUNCTION event_seal_pending() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_head event_chain_head;
    v_ids bigint[];
    v_digests bytea[];
    v_hashes bytea[];
BEGIN
    -- The first pending row of the transaction seals them all; the others find none left.
    WITH mine AS (
        DELETE FROM event_pending WHERE txid = pg_current_xact_id()
        RETURNING event_ids, digests
    )
    SELECT array_agg(u.id ORDER BY u.id), array_agg(u.d ORDER BY u.id) INTO v_ids, v_digests
    FROM mine CROSS JOIN LATERAL unnest(mine.event_ids, mine.digests) AS u(id, d);
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;
    -- Held from here to the end of the commit: chain order is commit order. A transaction
    -- in REPEATABLE READ that lost the race fails here (serialisation) instead of forking.
    SELECT * INTO v_head FROM event_chain_head FOR UPDATE;
    v_hashes := event_chain(v_head.hash, v_digests);
    INSERT INTO event_seal (seq, event_ids, hashes) VALUES (v_head.seq + 1, v_ids, v_hashes);
    UPDATE event_chain_head
    SET seq = v_head.seq + 1, events = v_head.events + cardinality(v_ids),
        hash = v_hashes[cardinality(v_hashes)];
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER event_seal_at_commit AFTER INSERT ON event_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION event_seal_pending();

-- Forgetting a person: every personal value held for them is erased (and values that
-- named nobody when written, equal to one of theirs), and that is itself an event.
CREATE FUNCTION audit_forget_person(p_person integer, p_pseudonym text, p_actor_name text,
                                    p_actor_role text, p_request_id text) RETURNS integer
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
           OR (v.person_id IS NULL AND lower(v.value) IN (SELECT k.value FROM known k)));
    GET DIAGNOSTICS erased = ROW_COUNT;
    INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action, after)
    VALUES (p_actor_name, p_actor_role, p_request_id, 'person', p_person,
            'personal_data_forgotten',
            jsonb_build_object('values_erased', erased, 'pseudonym', p_pseudonym));
    RETURN erased;
END $$;

-- Guards, beyond privileges (a broad GRANT must not open them): only the functions above
-- (running as the owner) write the chain; nothing rewrites it; a personal value is only
-- ever erased.
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE FUNCTION audit_owner_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = TG_RELID)
    THEN
        RAISE EXCEPTION '% on % is done only by the audit trail''s own functions', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE FUNCTION personal_value_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = TG_RELID)
       OR NEW.value IS NOT NULL OR NEW.id <> OLD.id OR NEW.field <> OLD.field
       OR NEW.person_id IS DISTINCT FROM OLD.person_id THEN
        RAISE EXCEPTION 'a personal value can only be erased, and only by forgetting its person'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER event_seal_owner_only BEFORE INSERT ON event_seal
    FOR EACH ROW EXECUTE FUNCTION audit_owner_only();
CREATE TRIGGER event_seal_no_update_delete BEFORE UPDATE OR DELETE ON event_seal
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER event_seal_no_truncate BEFORE TRUNCATE ON event_seal
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER event_chain_head_owner_only BEFORE UPDATE ON event_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_owner_only();
CREATE TRIGGER event_chain_head_no_insert_delete BEFORE INSERT OR DELETE ON event_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER event_chain_head_no_truncate BEFORE TRUNCATE ON event_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER event_pending_owner_only BEFORE INSERT OR UPDATE OR DELETE ON event_pending
    FOR EACH ROW EXECUTE FUNCTION audit_owner_only();
CREATE TRIGGER event_pending_no_truncate BEFORE TRUNCATE ON event_pending
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER personal_value_erase_only BEFORE UPDATE ON personal_value
    FOR EACH ROW EXECUTE FUNCTION personal_value_erase_only();
CREATE TRIGGER personal_value_no_delete BEFORE DELETE ON personal_value
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER personal_value_no_truncate BEFORE TRUNCATE ON personal_value
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

-- They fire in replica mode too (session_replication_role = replica, open to a superuser):
-- an event written that way is still chained, and the guards still hold.
ALTER TABLE event ENABLE ALWAYS TRIGGER event_collect;
ALTER TABLE event_pending ENABLE ALWAYS TRIGGER event_seal_at_commit;
ALTER TABLE event_pending ENABLE ALWAYS TRIGGER event_pending_owner_only;
ALTER TABLE event_pending ENABLE ALWAYS TRIGGER event_pending_no_truncate;
ALTER TABLE event_seal ENABLE ALWAYS TRIGGER event_seal_owner_only;
ALTER TABLE event_seal ENABLE ALWAYS TRIGGER event_seal_no_update_delete;
ALTER TABLE event_seal ENABLE ALWAYS TRIGGER event_seal_no_truncate;
ALTER TABLE event_chain_head ENABLE ALWAYS TRIGGER event_chain_head_owner_only;
ALTER TABLE event_chain_head ENABLE ALWAYS TRIGGER event_chain_head_no_insert_delete;
ALTER TABLE event_chain_head ENABLE ALWAYS TRIGGER event_chain_head_no_truncate;
ALTER TABLE personal_value ENABLE ALWAYS TRIGGER personal_value_erase_only;
ALTER TABLE personal_value ENABLE ALWAYS TRIGGER personal_value_no_delete;
ALTER TABLE personal_value ENABLE ALWAYS TRIGGER personal_value_no_truncate;

-- SECURITY DEFINER functions resolve names in this schema only (pg_temp last, so a
-- caller's temporary table can never stand in for one of ours).
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['event_collect()', 'event_seal_pending()',
                             'audit_forget_person(integer, text, text, text, text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;

-- Anyone may check the chain; nobody but its functions writes it.
REVOKE ALL ON event_seal, event_chain_head, event_pending, personal_value FROM PUBLIC;
GRANT SELECT ON event_seal, event_chain_head TO PUBLIC;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
