"""The asset table's indexes: each one serves a query the service runs (named below), and
the two unique keys that most assets leave NULL become partial unique indexes.

A delivery writes every new asset into every index of the table (13 of them): a 29,737-row
despatch file made about 13 index entries per handset. An asset tag is set on few devices,
and a new delivery has no MDM device id until its first sync (docks and accessories never
get one), yet each NULL had its entry in both unique indexes. A partial unique index on the
values that are set keeps exactly the same guarantee (NULLs never clash) and leaves the
NULLs out: two index entries fewer per delivered item (about a tenth of the insert's WAL).

The indexes kept on ``asset``, and the query each serves:

- ``asset_pkey`` (id): every read of an asset by id (``GET /assets/{id}``, the document).
- ``asset_imei_key`` (imei, unique): ``?imei=``, ``q``, the import's and MDM's match by IMEI.
- ``asset_serial_uq`` (manufacturer, serial_number, unique): the import's match by maker and
  serial; serials are unique per maker.
- ``asset_serial_idx`` (serial_number): ``?serial=``, ``q``, the MDM's match by serial alone
  (any maker) and the reconciliation's "not in the register".
- ``asset_tag_uq`` (asset_tag, partial, unique): ``?asset_tag=`` and ``q``.
- ``asset_mdm_device_uq`` (mdm_device_id, partial, unique): the MDM sync's "who holds this
  MDM device id" (freeing an id that moved) and the asset document's join to ``mdm_device``.
- ``asset_status_idx`` (status, id): ``?status=`` list pages in id order, the summary report
  and the reconciliation's deployed and left-the-estate sections.
- ``asset_model_idx`` (model_id, id): ``?model_id=`` list pages; a device model's assets.
- ``asset_contract_idx`` (contract_id, id): ``?contract_id=`` list pages; the recurring
  forecast's assets per contract.
- ``asset_po_idx`` (purchase_order_id): a purchase order's delivered counts (its page, the
  contract's, an import's purchase-order lines).
- ``asset_refresh_idx`` (refresh_due_on, id): ``?refresh_due_before=`` and the refresh
  forecast.
- ``asset_person_idx`` (person_id, partial): ``?person_id=``, ``GET /people/{id}/assets``, the
  leavers' devices.
- ``asset_import_idx`` (delivery_import_id): an import's assets (its events, its history).

Each index is also described in the database (``COMMENT ON INDEX``).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "asset: partial unique asset tag and MDM device id; each index's query"

SQL = r"""
ALTER TABLE asset DROP CONSTRAINT asset_asset_tag_key;
CREATE UNIQUE INDEX asset_tag_uq ON asset (asset_tag) WHERE asset_tag IS NOT NULL;
ALTER TABLE asset DROP CONSTRAINT asset_mdm_device_id_key;
CREATE UNIQUE INDEX asset_mdm_device_uq ON asset (mdm_device_id)
    WHERE mdm_device_id IS NOT NULL;

COMMENT ON INDEX asset_pkey IS 'every read of an asset by id';
COMMENT ON INDEX asset_imei_key IS '?imei=, q, the import''s and the MDM''s match by IMEI';
COMMENT ON INDEX asset_serial_uq IS 'serials unique per maker; the import''s match by maker and serial';
COMMENT ON INDEX asset_serial_idx IS '?serial=, q, the MDM''s match by serial alone';
COMMENT ON INDEX asset_tag_uq IS '?asset_tag= and q; tags are unique where set';
COMMENT ON INDEX asset_mdm_device_uq IS 'the MDM sync''s holder of an MDM device id; the document''s join to mdm_device';
COMMENT ON INDEX asset_status_idx IS '?status= pages in id order; the summary; the reconciliation';
COMMENT ON INDEX asset_model_idx IS '?model_id= pages; a device model''s assets';
COMMENT ON INDEX asset_contract_idx IS '?contract_id= pages; the recurring forecast per contract';
COMMENT ON INDEX asset_po_idx IS 'a purchase order''s delivered counts';
COMMENT ON INDEX asset_refresh_idx IS '?refresh_due_before= and the refresh forecast';
COMMENT ON INDEX asset_person_idx IS '?person_id=, a person''s assets, leavers'' devices';
COMMENT ON INDEX asset_import_idx IS 'an import''s assets';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
