"""Rules for locations and stocktakes the database keeps, and the default location.

An asset in stock, in repair or awaiting rebuild is kept at a location; every other status
has none (``asset_location_chk``). The location ``FLEETSVC_DEFAULT_LOCATION`` names
(``STORES``, "Central stores", unless set) is made if it is absent, and the assets and the
uncommitted delivery imports that had no location are given it, each asset with an event.
"""

import os
import re

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T19:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "locations and stocktakes: checks, indexes, the default location, asset locations"

# The same rule as fleetsvc.locations' codes (the settings check it again at start).
_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")

SQL = r"""
ALTER TABLE location ADD CONSTRAINT location_code_chk CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{{0,31}}$');
ALTER TABLE location ADD CONSTRAINT location_name_chk CHECK (name <> '' AND name = btrim(name));
CREATE INDEX location_bu_idx ON location (business_unit_id);

ALTER TABLE stocktake ADD CONSTRAINT stocktake_status_chk CHECK (status IN ('open','closed'));
ALTER TABLE stocktake ADD CONSTRAINT stocktake_closed_chk
    CHECK ((status = 'closed') = (closed_at IS NOT NULL));
-- One count of a place at a time: two open stocktakes of one store would each call the
-- other's scans missing, and each close could move the same devices.
CREATE UNIQUE INDEX stocktake_open_uq ON stocktake (location_id) WHERE status = 'open';
CREATE INDEX stocktake_location_idx ON stocktake (location_id, id);

ALTER TABLE stocktake_scan ADD CONSTRAINT stocktake_scan_outcome_chk
    CHECK (outcome IN ('found','elsewhere','unknown','already_scanned'));
ALTER TABLE stocktake_scan ADD CONSTRAINT stocktake_scan_code_chk
    CHECK (code <> '' AND code = btrim(code));
CREATE INDEX stocktake_scan_asset_idx ON stocktake_scan (stocktake_id, asset_id);
CREATE INDEX stocktake_scan_code_idx ON stocktake_scan (stocktake_id, code);

ALTER TABLE stocktake_item ADD CONSTRAINT stocktake_item_section_chk
    CHECK (section IN ('found','missing','elsewhere','unknown','duplicates'));
ALTER TABLE stocktake_item ADD CONSTRAINT stocktake_item_action_chk
    CHECK (action IS NULL OR action IN ('moved_here','marked_lost','not_moved'));
CREATE INDEX stocktake_item_section_idx ON stocktake_item (stocktake_id, section, id);

-- Where devices are kept: a stocktake reads every device of one location.
CREATE INDEX asset_location_idx ON asset (location_id, id) WHERE location_id IS NOT NULL;

INSERT INTO location (code, name) VALUES ('{code}', 'Central stores') ON CONFLICT (code) DO NOTHING;
WITH placed AS (
    UPDATE asset SET location_id = (SELECT id FROM location WHERE code = '{code}'),
                     version = version + 1, updated_at = now()
    WHERE status IN ('in_stock','in_repair','rebuild') AND location_id IS NULL
    RETURNING id, location_id
)
INSERT INTO event (actor_name, actor_role, entity, entity_id, action, before, after)
SELECT 'migration {id}', 'admin', 'asset', id, 'located', '{{"location_id": null}}'::jsonb,
       jsonb_build_object('location_id', location_id,
                          'reason', 'kept at the default location (FLEETSVC_DEFAULT_LOCATION)')
FROM placed ORDER BY id;
UPDATE delivery_import SET location_id = (SELECT id FROM location WHERE code = '{code}')
WHERE location_id IS NULL AND status IN ('running','previewed','rejected');

ALTER TABLE asset ADD CONSTRAINT asset_location_chk
    CHECK ((location_id IS NOT NULL) = (status IN ('in_stock','in_repair','rebuild')));
"""


def default_location_code() -> str:
    code = os.environ.get("FLEETSVC_DEFAULT_LOCATION", "").strip().upper() or "STORES"
    if not _CODE.fullmatch(code):
        raise ValueError(
            "FLEETSVC_DEFAULT_LOCATION must be a location code: 1 to 32 letters, digits or"
            f" dashes (got {code!r})"
        )
    return code


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL.format(code=default_location_code(), id=ID))

    manager.add_raw(run)
    return manager
