"""Rules the database itself keeps: checks, partial unique indexes, lookups,
the refresh-date function, and the append-only event trigger."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T00:53:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "constraints, indexes and the append-only event trigger"

SQL = r"""
-- Vocabularies (kept in step with fleetsvc's constant classes).
ALTER TABLE api_token ADD CONSTRAINT api_token_role_chk
    CHECK (role IN ('admin','engineer','stores','finance','mdm','auditor'));
ALTER TABLE person ADD CONSTRAINT person_kind_chk
    CHECK (kind IN ('officer','staff','special_constable'));
ALTER TABLE vehicle ADD CONSTRAINT vehicle_status_chk
    CHECK (status IN ('active','off_road','decommissioned'));
ALTER TABLE vehicle ADD CONSTRAINT vehicle_vrm_chk CHECK (vrm ~ '^[A-Z0-9]{1,8}$');
ALTER TABLE contract ADD CONSTRAINT contract_kind_chk
    CHECK (kind IN ('handset_supply','airtime','reseller_framework','installation','rebuild','licence'));
ALTER TABLE contract ADD CONSTRAINT contract_dates_chk CHECK (ends_on IS NULL OR ends_on >= starts_on);
ALTER TABLE contract ADD CONSTRAINT contract_cap_chk CHECK (value_cap IS NULL OR value_cap >= 0);
ALTER TABLE contract_charge ADD CONSTRAINT contract_charge_applies_chk
    CHECK (applies_to IN ('sim','device','licence_seat'));
ALTER TABLE contract_charge ADD CONSTRAINT contract_charge_period_chk
    CHECK (period IN ('month','year'));
ALTER TABLE contract_charge ADD CONSTRAINT contract_charge_amount_chk CHECK (unit_amount >= 0);
ALTER TABLE device_model ADD CONSTRAINT device_model_category_chk
    CHECK (category IN ('smartphone','ivma_tablet','vehicle_dock','tablet','accessory'));
ALTER TABLE device_model ADD CONSTRAINT device_model_lifecycle_chk
    CHECK (lifecycle_months IS NULL OR lifecycle_months BETWEEN 1 AND 240);
ALTER TABLE device_model ADD CONSTRAINT device_model_cost_chk
    CHECK (replacement_cost IS NULL OR replacement_cost >= 0);
CREATE UNIQUE INDEX device_model_name_uq ON device_model (lower(manufacturer), lower(model_name));
CREATE UNIQUE INDEX model_alias_uq ON model_alias (manufacturer, description);
ALTER TABLE purchase_order ADD CONSTRAINT purchase_order_status_chk
    CHECK (status IN ('open','closed','cancelled'));
ALTER TABLE purchase_order_line ADD CONSTRAINT po_line_qty_chk CHECK (quantity > 0);
ALTER TABLE purchase_order_line ADD CONSTRAINT po_line_cost_chk CHECK (unit_cost >= 0);
CREATE UNIQUE INDEX po_line_model_uq ON purchase_order_line (purchase_order_id, model_id);
ALTER TABLE licence_pool ADD CONSTRAINT licence_pool_seats_chk CHECK (seats > 0);
CREATE UNIQUE INDEX licence_seat_uq ON licence_seat (pool_id, asset_id);
ALTER TABLE delivery_import ADD CONSTRAINT delivery_import_status_chk
    CHECK (status IN ('running','previewed','committed','rejected','failed'));
ALTER TABLE import_issue ADD CONSTRAINT import_issue_severity_chk
    CHECK (severity IN ('error','warning'));
CREATE INDEX import_issue_import_idx ON import_issue (import_id, row_number);
CREATE UNIQUE INDEX import_rejected_row_uq ON import_rejected_row (import_id, row_number);
ALTER TABLE install_job ADD CONSTRAINT install_job_status_chk
    CHECK (status IN ('completed','aborted','deferred'));

-- Assets: identity and lifecycle.
ALTER TABLE asset ADD CONSTRAINT asset_status_chk CHECK (status IN
    ('in_stock','staging','deployed','in_repair','rebuild','lost','stolen','retired','disposed'));
ALTER TABLE asset ADD CONSTRAINT asset_serial_chk
    CHECK (serial_number <> '' AND serial_number = upper(btrim(serial_number)));
ALTER TABLE asset ADD CONSTRAINT asset_imei_chk CHECK (imei IS NULL OR imei ~ '^[0-9]{15}$');
ALTER TABLE asset ADD CONSTRAINT asset_disposed_chk
    CHECK (status <> 'disposed' OR disposal_certificate_ref IS NOT NULL);
ALTER TABLE asset ADD CONSTRAINT asset_deployed_chk
    CHECK (person_id IS NULL OR status = 'deployed');
CREATE UNIQUE INDEX asset_serial_uq ON asset (manufacturer, serial_number);
CREATE INDEX asset_serial_idx ON asset (serial_number);
CREATE INDEX asset_status_idx ON asset (status, id);
CREATE INDEX asset_model_idx ON asset (model_id, id);
CREATE INDEX asset_person_idx ON asset (person_id) WHERE person_id IS NOT NULL;
CREATE INDEX asset_contract_idx ON asset (contract_id, id);
CREATE INDEX asset_po_idx ON asset (purchase_order_id);
CREATE INDEX asset_refresh_idx ON asset (refresh_due_on, id);
CREATE INDEX asset_import_idx ON asset (delivery_import_id);

ALTER TABLE sim ADD CONSTRAINT sim_iccid_chk CHECK (iccid ~ '^89[0-9]{17,18}$');
ALTER TABLE sim ADD CONSTRAINT sim_msisdn_chk CHECK (msisdn IS NULL OR msisdn ~ '^\+[1-9][0-9]{7,14}$');
ALTER TABLE sim ADD CONSTRAINT sim_status_chk CHECK (status IN ('active','suspended','cancelled'));
CREATE UNIQUE INDEX sim_asset_uq ON sim (asset_id) WHERE asset_id IS NOT NULL;
CREATE UNIQUE INDEX sim_fitting_sim_open_uq ON sim_fitting (sim_id) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX sim_fitting_asset_open_uq ON sim_fitting (asset_id) WHERE removed_at IS NULL;
CREATE INDEX sim_fitting_asset_idx ON sim_fitting (asset_id);

CREATE UNIQUE INDEX assignment_open_uq ON assignment (asset_id) WHERE ended_at IS NULL;
CREATE INDEX assignment_person_idx ON assignment (person_id);
CREATE INDEX assignment_asset_idx ON assignment (asset_id);

-- A tablet is in at most one vehicle; a vehicle has at most one active tablet.
ALTER TABLE install ADD CONSTRAINT install_removal_reason_chk CHECK (removal_reason IS NULL
    OR removal_reason IN ('recovered','vehicle_decommissioned','faulty'));
ALTER TABLE install ADD CONSTRAINT install_removed_chk
    CHECK ((removed_on IS NULL) = (removal_reason IS NULL));
ALTER TABLE install ADD CONSTRAINT install_dock_chk CHECK (dock_id IS NULL OR dock_id <> tablet_id);
CREATE UNIQUE INDEX install_tablet_open_uq ON install (tablet_id) WHERE removed_on IS NULL;
CREATE UNIQUE INDEX install_vehicle_open_uq ON install (vehicle_id) WHERE removed_on IS NULL;
CREATE UNIQUE INDEX install_dock_open_uq ON install (dock_id)
    WHERE removed_on IS NULL AND dock_id IS NOT NULL;
CREATE INDEX install_tablet_idx ON install (tablet_id);

CREATE INDEX person_bu_idx ON person (business_unit_id);
CREATE INDEX person_upn_lower_idx ON person (lower(upn));
CREATE INDEX vehicle_bu_idx ON vehicle (business_unit_id);

ALTER TABLE mdm_run ADD CONSTRAINT mdm_run_source_chk CHECK (source IN ('push','file','pull'));
ALTER TABLE mdm_run ADD CONSTRAINT mdm_run_status_chk CHECK (status IN ('open','closed','failed'));
CREATE INDEX mdm_device_serial_idx ON mdm_device (serial_number);
CREATE INDEX mdm_device_imei_idx ON mdm_device (imei);
CREATE INDEX mdm_device_asset_idx ON mdm_device (asset_id);
CREATE INDEX mdm_run_issue_run_idx ON mdm_run_issue (run_id, batch_no);

-- The one definition of when a device is due for refresh.
CREATE FUNCTION refresh_due(in_service date, delivered date, lifecycle_months integer,
                            override date) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN COALESCE(override,
                    (COALESCE(in_service, delivered) + make_interval(months => lifecycle_months))::date);

-- The audit trail is append-only: no path may change or remove an event.
CREATE INDEX event_entity_idx ON event (entity, entity_id, id);
CREATE INDEX event_occurred_idx ON event (occurred_at, id);
CREATE FUNCTION event_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event table is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER event_no_update_delete BEFORE UPDATE OR DELETE ON event
    FOR EACH ROW EXECUTE FUNCTION event_is_append_only();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON event
    FOR EACH STATEMENT EXECUTE FUNCTION event_is_append_only();
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
