"""The vocabularies are written once in Python; the database's CHECK constraints must
hold the same lists, so a value the API accepts is never refused by the database (a
500) and a value the database accepts is never one the API cannot name."""

from __future__ import annotations

import re

import asyncpg
import pytest

from fleetsvc import vocabulary as v

# (table, CHECK constraint) -> the vocabulary it must list, in the same order.
CHECKED = {
    ("api_token", "api_token_role_chk"): v.Role,
    ("person", "person_kind_chk"): v.PersonKind,
    ("vehicle", "vehicle_status_chk"): v.VehicleStatus,
    ("contract", "contract_kind_chk"): v.ContractKind,
    ("contract_charge", "contract_charge_applies_chk"): v.ChargeAppliesTo,
    ("contract_charge", "contract_charge_period_chk"): v.ChargePeriod,
    ("device_model", "device_model_category_chk"): v.Category,
    ("purchase_order", "purchase_order_status_chk"): v.PurchaseOrderStatus,
    ("delivery_import", "delivery_import_status_chk"): v.ImportStatus,
    ("import_issue", "import_issue_severity_chk"): v.IssueSeverity,
    ("import_issue", "import_issue_outcome_chk"): v.HeldBackOutcome,
    ("install_job", "install_job_status_chk"): v.InstallJobStatus,
    ("install", "install_removal_reason_chk"): v.RemovalReason,
    ("asset", "asset_status_chk"): v.AssetStatus,
    ("sim", "sim_status_chk"): v.SimStatus,
    ("mdm_run", "mdm_run_source_chk"): v.MdmRunSource,
    ("mdm_run", "mdm_run_status_chk"): v.MdmRunStatus,
    ("stocktake", "stocktake_status_chk"): v.StocktakeStatus,
    ("stocktake_scan", "stocktake_scan_outcome_chk"): v.ScanOutcome,
    ("stocktake_item", "stocktake_item_section_chk"): v.StocktakeSection,
    ("stocktake_item", "stocktake_item_action_chk"): v.StocktakeAction,
    ("asset", "asset_location_chk"): v.KEPT_AT_LOCATION,
    ("recovery_case", "recovery_case_status_chk"): v.RecoveryStatus,
    ("recovery_line", "recovery_line_status_chk"): v.RecoveryLineStatus,
    ("recovery_case", "recovery_case_cancel_reason_chk"): v.RecoveryCancelReason,
}


@pytest.mark.parametrize(("table", "constraint"), sorted(CHECKED))
async def test_database_checks_hold_the_vocabulary(
    database_url: str, table: str, constraint: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        text = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = $1::regclass AND conname = $2",
            table,
            constraint,
        )
    finally:
        await conn.close()
    assert text is not None, f"no constraint {constraint} on {table}"
    assert re.findall(r"'([^']*)'::", text) == list(CHECKED[table, constraint])


def test_has_reads_membership_without_raising() -> None:
    assert v.AssetStatus.has("deployed")
    assert not v.AssetStatus.has("Deployed")
    assert not v.AssetStatus.has(3)
    assert v.Role.listed() == "admin, engineer, stores, finance, mdm, auditor"
