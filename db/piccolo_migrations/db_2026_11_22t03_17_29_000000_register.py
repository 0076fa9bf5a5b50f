"""Lookup indexes the register's history and list filters read through."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T03:17:29:000000"
VERSION = "1.38.0"
DESCRIPTION = "register: install, SIM fitting and SIM contract lookup indexes"

SQL = r"""
-- An install's history by vehicle and by dock (the open-only indexes cannot serve them).
CREATE INDEX install_vehicle_idx ON install (vehicle_id, id);
CREATE INDEX install_dock_idx ON install (dock_id) WHERE dock_id IS NOT NULL;
-- A SIM's fitting history, oldest first.
CREATE INDEX sim_fitting_sim_idx ON sim_fitting (sim_id, id);
-- SIMs on an airtime contract.
CREATE INDEX sim_contract_idx ON sim (contract_id, id);
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="db", description=DESCRIPTION)

    async def run() -> None:
        from db.sql import execute_script

        await execute_script(SQL)

    manager.add_raw(run)
    return manager
