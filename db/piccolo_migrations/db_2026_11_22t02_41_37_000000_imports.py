"""Delivery imports: the staging table previewed rows wait in until they are committed."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T02:41:37:000000"
VERSION = "1.38.0"
DESCRIPTION = "imports: staging table for parsed delivery rows"

SQL = r"""
-- Parsed rows of a delivery import, COPYed in batches as the file is read, classified and
-- applied with set-based SQL, and deleted once the import is committed. Kept in the database
-- (not a TEMP table) so that any replica can commit an import another one previewed.
-- UNLOGGED: these rows are a cache of an uploaded file; after a crash the upload is repeated.
CREATE UNLOGGED TABLE import_staged_row (
    import_id integer NOT NULL,
    row_number integer NOT NULL,
    parse_ok boolean NOT NULL,
    issues jsonb,            -- [[severity, column, value, message], ...] from the parser
    cells text[] NOT NULL,   -- original cell text, in delivery_import.summary->'fields' order
    delivered_on date,
    supplier_order_ref text,
    po_number text,
    delivery_ref text,
    manufacturer text,
    part_number text,
    description text,
    serial_number text,
    imei text,
    iccid text,
    msisdn text,
    quantity integer,
    unit_cost numeric(12, 2),
    licence_key text,
    job_reference text,
    completed_on date,
    fleet_number text,
    vrm text,
    vehicle_description text,
    workshop text,
    tablet_serial text,
    dock_serial text,
    engineer_id text,
    job_status text,
    comments text,
    PRIMARY KEY (import_id, row_number)
);

-- "This file was committed before" is a lookup by content hash.
CREATE INDEX delivery_import_sha_idx ON delivery_import (sha256, id);
-- What one import created (its events are written from these, set-based).
CREATE INDEX sim_import_idx ON sim (delivery_import_id) WHERE delivery_import_id IS NOT NULL;
CREATE INDEX install_import_idx ON install (delivery_import_id)
    WHERE delivery_import_id IS NOT NULL;
CREATE INDEX install_job_import_idx ON install_job (delivery_import_id)
    WHERE delivery_import_id IS NOT NULL;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
