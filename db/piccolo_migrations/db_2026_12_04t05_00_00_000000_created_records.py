"""A delivery's history is one event for the import and a narrow record per item it created.

Written per delivery until now: one JSON event per handset and per SIM (59,474 for a
29,737-row file), each passed through the personal-data CTE, given four index entries,
digested by the chain's trigger and chained at commit. Now the items a delivery creates
are kept in ``created_record`` (typed columns, three indexes), and the import writes one
``items_created`` event whose ``after`` holds the count and a SHA-256 over the records'
canonical text (``fleetsvc.audit_chain.RECORDS_CANONICAL_SQL``), computed in SQL; the
chain covers that event, so ``fleetsvc audit verify`` recomputes the digest and names the
event whose records do not match it.

Record ids are drawn from the event id sequence, so the records interleave with events
in keyset (id) order and an id names one history entry. ``event_history`` is what every
history read selects from: the events, and each record as the ``created`` event it
stands for (its import event's time, actor and request id; the same ``after`` values an
event held before). ``created_record.event_id`` has no foreign key: the event is written
after its records (its digest is over them), and verify reports a record no event seals.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit: a delivery's created items kept as narrow, sealed records"

SQL = r"""
CREATE TABLE created_record (
    id bigint PRIMARY KEY DEFAULT nextval('event_id_seq'),
    event_id bigint NOT NULL,           -- the import's items_created event that seals it
    entity varchar(32) NOT NULL,
    entity_id bigint NOT NULL,
    delivery_import_id integer NOT NULL,
    -- an asset's
    model_id integer,
    manufacturer varchar(100),
    serial_number varchar(64),
    imei varchar(15),
    status varchar(16),
    purchase_order_id integer,
    contract_id integer,                -- an asset's, or a SIM's airtime contract
    supplier_order_ref varchar(64),
    delivery_ref varchar(64),
    unit_cost numeric(12, 2),
    delivered_on date,
    refresh_due_on date,
    location_id integer,
    -- a SIM's
    iccid varchar(20),
    msisdn varchar(16),
    asset_id integer,
    CONSTRAINT created_record_entity_chk CHECK (entity IN ('asset', 'sim')),
    CONSTRAINT created_record_shape_chk CHECK (
        CASE entity
            WHEN 'asset' THEN model_id IS NOT NULL AND serial_number IS NOT NULL
                              AND iccid IS NULL AND msisdn IS NULL AND asset_id IS NULL
            ELSE iccid IS NOT NULL AND model_id IS NULL AND serial_number IS NULL
        END)
);
-- An asset's (or a SIM's) history: GET /assets/{id}/events, GET /events?entity=&entity_id=.
CREATE INDEX created_record_entity_idx ON created_record (entity, entity_id, id);
-- The records an event seals: event_history's join, and verify's digest per event.
CREATE INDEX created_record_event_idx ON created_record (event_id, id);

-- Append-only, as events are: refused even for the owner, in replica mode too.
CREATE TRIGGER created_record_no_update_delete BEFORE UPDATE OR DELETE ON created_record
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER created_record_no_truncate BEFORE TRUNCATE ON created_record
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
ALTER TABLE created_record ENABLE ALWAYS TRIGGER created_record_no_update_delete;
ALTER TABLE created_record ENABLE ALWAYS TRIGGER created_record_no_truncate;

-- Every history entry: the events, and each created record as the event it stands for.
CREATE VIEW event_history AS
SELECT e.id, e.occurred_at, e.actor_name, e.actor_role, e.request_id, e.entity, e.entity_id,
       e.action, e.before, e.after
FROM event e
UNION ALL
SELECT r.id, e.occurred_at, e.actor_name, e.actor_role, e.request_id, r.entity, r.entity_id,
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
FROM created_record r JOIN event e ON e.id = r.event_id;

REVOKE ALL ON created_record, event_history FROM PUBLIC;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
