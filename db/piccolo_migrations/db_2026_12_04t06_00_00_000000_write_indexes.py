"""One serial index on ``asset`` instead of two, and every index on ``sim`` and
``sim_fitting`` named by the query it serves (issue 15).

``asset_serial_uq`` (manufacturer, serial_number) and ``asset_serial_idx`` (serial_number)
indexed the same column twice: every delivered handset paid two entries for its serial. One
unique index led by the serial, ``(serial_number, manufacturer)``, answers both: the lookups
by serial alone (``?serial=``, ``q``, the MDM's match by serial, the stocktake's scans, the
reconciliation's "not in the register") read its first column, and the matches by maker and
serial (the delivery plan, the MDM's apply, bulk registration) both. Serials are still unique
per maker, the same guarantee. Measured in the rolled-back write of 29,737 handsets: about a
tenth of its CPU.

Kept on ``sim``, and what each serves:

- ``sim_pkey`` (id): every read of a SIM by id; the fittings' reference to it.
- ``sim_iccid_key`` (iccid, unique): an ICCID is one SIM; the delivery plan's "SIM already
  registered", the stocktake's scans by ICCID, ``?iccid=``.
- ``sim_msisdn_key`` (msisdn, unique): a number is on one SIM; ``?msisdn=`` on assets and
  SIMs, ``q``, the delivery plan's "number already on SIM".
- ``sim_asset_uq`` (asset_id, partial, unique): a handset holds one SIM; the asset document's
  and the holdings' join to its SIM, ``?asset_id=``, the subject-access report's devices.
- ``sim_import_idx`` (delivery_import_id, partial): an import's SIMs (their history, the
  re-commit check in ``imports.repeat``).
- ``sim_contract_idx`` (contract_id, id): ``GET /sims?contract_id=`` in id order; the
  recurring forecast's active SIMs per airtime contract.

Kept on ``sim_fitting``:

- ``sim_fitting_pkey`` (id): the fitting's identity, the keyset of a SIM's history pages.
- ``sim_fitting_sim_open_uq`` (sim_id, partial, unique): a SIM is in one handset at a time;
  closing a SIM's open fitting when it is removed or moved.
- ``sim_fitting_asset_open_uq`` (asset_id, partial, unique): a handset holds one SIM at a time.
- ``sim_fitting_asset_idx`` (asset_id): an asset's timeline (the SIMs it has held, removed
  ones too) and the subject-access report's SIMs per device.
- ``sim_fitting_sim_idx`` (sim_id, id): ``GET /sims/{id}/history`` in id order; the
  subject-access report's "fitted with no fitting row".
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T06:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "asset: one serial index led by the serial; sim and sim_fitting indexes named"

SQL = r"""
CREATE UNIQUE INDEX asset_serial_maker_uq ON asset (serial_number, manufacturer);
DROP INDEX asset_serial_uq;
DROP INDEX asset_serial_idx;
ALTER INDEX asset_serial_maker_uq RENAME TO asset_serial_uq;
COMMENT ON INDEX asset_serial_uq IS
    'serials unique per maker; ?serial=, q, the MDM''s match by serial alone, the stocktake''s scans; the import''s and the MDM''s match by maker and serial';

COMMENT ON INDEX sim_pkey IS 'every read of a SIM by id; the fittings'' reference';
COMMENT ON INDEX sim_iccid_key IS
    'an ICCID is one SIM; the delivery plan''s SIM already registered; the stocktake''s scans';
COMMENT ON INDEX sim_msisdn_key IS
    'a number is on one SIM; ?msisdn= on assets and SIMs, q; the delivery plan''s number check';
COMMENT ON INDEX sim_asset_uq IS
    'a handset holds one SIM; the asset document''s and holdings'' join to its SIM; ?asset_id=';
COMMENT ON INDEX sim_import_idx IS 'an import''s SIMs: their history, the re-commit check';
COMMENT ON INDEX sim_contract_idx IS
    '/sims?contract_id= in id order; the recurring forecast''s active SIMs per contract';

COMMENT ON INDEX sim_fitting_pkey IS 'a fitting''s identity; the keyset of a SIM''s history';
COMMENT ON INDEX sim_fitting_sim_open_uq IS
    'a SIM is in one handset at a time; closing its open fitting';
COMMENT ON INDEX sim_fitting_asset_open_uq IS 'a handset holds one SIM at a time';
COMMENT ON INDEX sim_fitting_asset_idx IS
    'an asset''s timeline (every SIM it held); the subject-access report''s SIMs per device';
COMMENT ON INDEX sim_fitting_sim_idx IS
    '/sims/{id}/history in id order; the subject-access report''s unrecorded fittings';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
