"""A delivery's history as one narrow row per created item, its SIM on the same row
(``created_item``), not a ``created_record`` for the handset and another for its SIM
(issue 15).

A 29,737-handset delivery wrote 59,474 records, each with three B-tree entries (the pkey,
``created_record_entity_idx`` (entity, entity_id, id), ``created_record_actor_idx``
(actor_name, id)) and its share of a BRIN. A handset and its SIM are created together, by
one import, at one time, by one actor: one row holds both, with the SIM's own history
entry id (``sim_record_id``, drawn from the event id sequence as the row's own ``id`` is,
so both interleave with events in keyset order and an id still names one history entry).

The table is LIST-partitioned on whether the item has a SIM: ``created_item_sim`` (its SIM
columns NOT NULL) and ``created_item_bare`` (none of them). The SIM's branch of
``event_history`` reads only the first. B-trees: each partition's pkey (the trail's keyset
in id order, merged with the events'), and ``sim_record_id`` (the SIM entries' keyset). The
rest is one multi-column BRIN (occurred_at, actor_name, asset_id, sim_id): a delivery's
items are contiguous in the heap, with consecutive ids, one actor and one time, so a block
range's summary is one short interval of each and the readers that filter on them (an
asset's or a SIM's history, ``GET /events?actor=``, ``?since=&until=``) read the few
ranges that can hold them. No primary key on the parent: one would have to hold the
partition key; ids are unique by their sequence, and each partition's pkey enforces it
within the partition.

``event_history`` keeps its event and ``created_record`` branches (records written before
this stay readable and verifiable), and gains the item's ``created`` entry (id
``created_item.id``, entity 'asset') and its SIM's (id ``sim_record_id``, entity 'sim', the
``after`` a SIM's created record showed: iccid, msisdn, contract_id, asset_id, fitted,
delivery_import_id). Items are sealed by the import's ``items_created`` event in records
format 3 (``fleetsvc.audit_chain.ITEM_CANONICAL_SQL``). Append-only as ``created_record``
is (the row trigger is cloned to both partitions; TRUNCATE is refused on each table).

Measured, interleaved with the records it replaces (2026-12-04, shared 2-core machine): the
rolled-back history of a 29,737-handset delivery, backend CPU best of 7, 0.36–0.38 s ->
0.21 s; of 300,000, 4.02 s -> 2.31 s. Reads over 118,998 items and 40,015 events,
vacuumed, best of 15 (the records' figure in brackets): first page of the trail 0.18 ms
(0.22), a rare actor's 0.60 (0.23), a time window 0.25 (0.16), an asset's history 0.46
(0.10), where it was last kept 0.19 (0.04); ``fleetsvc audit verify`` of the 237,996
entries 0.66 s (0.82). Heap and indexes: 33 MB against the records' 62 MB.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit: a delivery's created items, each with its SIM, one narrow row per item"

SQL = r"""
CREATE TABLE created_item (
    id bigint NOT NULL DEFAULT nextval('event_id_seq'),  -- the item's created entry
    event_id bigint NOT NULL,           -- the import's items_created event that seals it
    -- the sealing event's, kept here so history reads need no join (verify holds them equal)
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_name varchar(100) NOT NULL,
    actor_role varchar(16) NOT NULL,
    request_id varchar(64),
    delivery_import_id integer NOT NULL,
    -- the item (an asset)
    asset_id bigint NOT NULL,
    model_id integer NOT NULL,
    manufacturer varchar(100),
    serial_number varchar(64) NOT NULL,
    imei varchar(15),
    status varchar(16),
    purchase_order_id integer,
    contract_id integer,
    supplier_order_ref varchar(64),
    delivery_ref varchar(64),
    unit_cost numeric(12, 2),
    delivered_on date,
    refresh_due_on date,
    location_id integer,
    -- its SIM, fitted in it (all NULL for an item without one)
    sim_record_id bigint,               -- the SIM's created entry, from the event id sequence
    sim_id bigint,
    iccid varchar(20),
    msisdn varchar(16),
    sim_contract_id integer             -- the SIM's airtime contract
) PARTITION BY LIST ((sim_record_id IS NOT NULL));

CREATE TABLE created_item_sim PARTITION OF created_item FOR VALUES IN (true);
ALTER TABLE created_item_sim ALTER COLUMN sim_record_id SET NOT NULL,
    ALTER COLUMN sim_id SET NOT NULL, ALTER COLUMN iccid SET NOT NULL;
CREATE TABLE created_item_bare PARTITION OF created_item FOR VALUES IN (false);
ALTER TABLE created_item_bare ADD CONSTRAINT created_item_bare_chk CHECK (
    sim_id IS NULL AND iccid IS NULL AND msisdn IS NULL AND sim_contract_id IS NULL);

ALTER TABLE created_item_sim ADD CONSTRAINT created_item_sim_pkey PRIMARY KEY (id);
ALTER TABLE created_item_bare ADD CONSTRAINT created_item_bare_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX created_item_sim_record_idx ON created_item_sim (sim_record_id);
CREATE INDEX created_item_sim_brin ON created_item_sim
    USING brin (occurred_at, actor_name, asset_id, sim_id)
    WITH (pages_per_range = 32, autosummarize = on);
CREATE INDEX created_item_bare_brin ON created_item_bare
    USING brin (occurred_at, actor_name, asset_id, sim_id)
    WITH (pages_per_range = 32, autosummarize = on);
-- The parent's index, which takes the partitions' (and a new partition's) as its own.
CREATE INDEX created_item_brin ON created_item
    USING brin (occurred_at, actor_name, asset_id, sim_id)
    WITH (pages_per_range = 32, autosummarize = on);

COMMENT ON INDEX created_item_sim_pkey IS
    'the audit trail''s keyset: every page of /events in id order with the events (items with a SIM)';
COMMENT ON INDEX created_item_bare_pkey IS
    'the audit trail''s keyset: every page of /events in id order with the events (items without one)';
COMMENT ON INDEX created_item_sim_record_idx IS
    'the SIMs'' created entries in id order: every page of /events, a SIM entry by id';
COMMENT ON INDEX created_item_brin IS
    'block ranges (a delivery is one actor, one time, consecutive items): an asset''s or SIM''s history, last location, /events?actor=, ?since=&until=';
COMMENT ON INDEX created_item_sim_brin IS
    'created_item_brin''s part: an asset''s or SIM''s history, last location, /events?actor=, ?since=&until=';
COMMENT ON INDEX created_item_bare_brin IS
    'created_item_brin''s part: an asset''s history, last location, /events?actor=, ?since=&until=';

-- Append-only, as events and records are: refused even for the owner, in replica mode too.
-- The row trigger is cloned to each partition; a statement trigger is not, so TRUNCATE is
-- refused on each table.
CREATE TRIGGER created_item_no_update_delete BEFORE UPDATE OR DELETE ON created_item
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
ALTER TABLE created_item ENABLE ALWAYS TRIGGER created_item_no_update_delete;
CREATE TRIGGER created_item_no_truncate BEFORE TRUNCATE ON created_item
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
ALTER TABLE created_item ENABLE ALWAYS TRIGGER created_item_no_truncate;
CREATE TRIGGER created_item_sim_no_truncate BEFORE TRUNCATE ON created_item_sim
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
ALTER TABLE created_item_sim ENABLE ALWAYS TRIGGER created_item_sim_no_truncate;
CREATE TRIGGER created_item_bare_no_truncate BEFORE TRUNCATE ON created_item_bare
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
ALTER TABLE created_item_bare ENABLE ALWAYS TRIGGER created_item_bare_no_truncate;

-- Every history entry: the events, each created record, each created item and its SIM as
-- the created event it stands for.
CREATE OR REPLACE VIEW event_history AS
SELECT e.id, e.occurred_at, e.actor_name, e.actor_role, e.request_id, e.entity, e.entity_id,
       e.action, e.before, e.after
FROM event e
UNION ALL
SELECT r.id, r.occurred_at, r.actor_name, r.actor_role, r.request_id, r.entity, r.entity_id,
       'created'::varchar(32), NULL::jsonb,
       CASE r.entity
           WHEN 'asset' THEN jsonb_build_object(
               'delivery_import_id', r.delivery_import_id, 'model_id', r.model_id,
               'manufacturer', r.manufacturer, 'serial_number', r.serial_number,
               'imei', r.imei, 'status', r.status, 'purchase_order_id', r.purchase_order_id,
               'contract_id', r.contract_id, 'supplier_order_ref', r.supplier_order_ref,
               'delivery_ref', r.delivery_ref, 'unit_cost', r.unit_cost::text,
               'delivered_on', r.delivered_on, 'refresh_due_on', r.refresh_due_on,
               'location_id', r.location_id)
           ELSE jsonb_build_object(
               'iccid', r.iccid, 'msisdn', r.msisdn, 'contract_id', r.contract_id,
               'asset_id', r.asset_id, 'fitted', true,
               'delivery_import_id', r.delivery_import_id)
       END
FROM created_record r
UNION ALL
SELECT i.id, i.occurred_at, i.actor_name, i.actor_role, i.request_id, 'asset'::varchar(32),
       i.asset_id, 'created'::varchar(32), NULL::jsonb,
       jsonb_build_object(
           'delivery_import_id', i.delivery_import_id, 'model_id', i.model_id,
           'manufacturer', i.manufacturer, 'serial_number', i.serial_number,
           'imei', i.imei, 'status', i.status, 'purchase_order_id', i.purchase_order_id,
           'contract_id', i.contract_id, 'supplier_order_ref', i.supplier_order_ref,
           'delivery_ref', i.delivery_ref, 'unit_cost', i.unit_cost::text,
           'delivered_on', i.delivered_on, 'refresh_due_on', i.refresh_due_on,
           'location_id', i.location_id)
FROM created_item i
UNION ALL
SELECT s.sim_record_id, s.occurred_at, s.actor_name, s.actor_role, s.request_id,
       'sim'::varchar(32), s.sim_id, 'created'::varchar(32), NULL::jsonb,
       jsonb_build_object(
           'iccid', s.iccid, 'msisdn', s.msisdn, 'contract_id', s.sim_contract_id,
           'asset_id', s.asset_id, 'fitted', true,
           'delivery_import_id', s.delivery_import_id)
FROM created_item_sim s;

REVOKE ALL ON created_item, created_item_sim, created_item_bare FROM PUBLIC;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
