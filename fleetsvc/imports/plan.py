"""Classify staged delivery rows and apply them, set-based: a handful of statements per
import, never one per row.

Each evaluation builds a TEMP ``import_plan`` table (dropped at commit) from the staged rows
joined to models, purchase orders, assets and SIMs, decides every row's outcome
(``new``, ``unchanged``, ``duplicate``, ``conflict``, ``rejected``), writes the report (row
issues, rejected rows, counts, per-PO-line summary) and, for a commit, applies the ``new``
rows with ``INSERT … SELECT`` and writes their events in bulk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict

# Applies are serialised: a plan made in the transaction is then true when it is applied.
APPLY_LOCK: Final = 0x696D706F72747331  # "imports1"
BLOCKING: Final = ("rejected", "conflict")
WORK_MEM: Final = "64MB"

# --- deliveries (vodafone-despatch, cdw-asn) --------------------------------------------------

DELIVERY_PLAN: Final = r"""
CREATE TEMP TABLE import_plan ON COMMIT DROP AS
WITH staged AS (
    SELECT * FROM import_staged_row WHERE import_id = $1
),
items AS (
    SELECT DISTINCT COALESCE(part_number, '') AS part_number,
           COALESCE(manufacturer, '') AS manufacturer, COALESCE(description, '') AS description
    FROM staged
),
resolved AS (
    SELECT i.part_number, i.manufacturer, i.description,
           COALESCE(pn.model_id, al.model_id) AS model_id
    FROM items i
    LEFT JOIN model_part_number pn ON pn.part_number = upper(btrim(i.part_number))
    LEFT JOIN LATERAL (
        SELECT min(a.model_id) AS model_id FROM model_alias a
        WHERE a.description = lower(regexp_replace(btrim(i.description), '\s+', ' ', 'g'))
          AND (i.manufacturer = '' OR a.manufacturer = lower(btrim(i.manufacturer)))
        HAVING count(DISTINCT a.model_id) = 1
    ) al ON pn.model_id IS NULL
),
dates AS (
    SELECT DISTINCT delivered_on FROM staged WHERE delivered_on IS NOT NULL
),
airtime AS (
    -- A handset's SIM goes on the newest airtime contract active on the delivery date.
    SELECT d.delivered_on, c.id AS contract_id
    FROM dates d
    CROSS JOIN LATERAL (
        SELECT id FROM contract
        WHERE kind = 'airtime' AND starts_on <= d.delivered_on
          AND (ends_on IS NULL OR ends_on >= d.delivered_on)
        ORDER BY starts_on DESC, id DESC LIMIT 1
    ) c
)
SELECT s.row_number, s.parse_ok,
       CASE WHEN s.licence_key IS NOT NULL AND s.serial_number IS NULL AND s.imei IS NULL
            THEN 'licence' ELSE 'asset' END AS kind,
       s.delivered_on, s.supplier_order_ref, s.po_number, s.delivery_ref, s.part_number,
       s.description, s.manufacturer AS file_manufacturer,
       COALESCE(s.serial_number, s.imei) AS serial_number, s.imei, s.iccid, s.msisdn,
       s.quantity, s.licence_key,
       m.id AS model_id, lower(m.manufacturer) AS manufacturer, m.lifecycle_months,
       po.id AS purchase_order_id, po.contract_id, po.status AS po_status,
       COALESCE(s.unit_cost, pol.unit_cost) AS unit_cost, s.unit_cost AS file_unit_cost,
       air.contract_id AS airtime_contract_id,
       CASE WHEN s.parse_ok THEN NULL ELSE 'rejected' END AS outcome,
       NULL::text AS issue_field, NULL::text AS message,
       NULL::integer AS asset_id, NULL::integer AS serial_asset_id, NULL::integer AS pool_id
FROM staged s
LEFT JOIN resolved r ON r.part_number = COALESCE(s.part_number, '')
    AND r.manufacturer = COALESCE(s.manufacturer, '')
    AND r.description = COALESCE(s.description, '')
LEFT JOIN device_model m ON m.id = r.model_id
LEFT JOIN purchase_order po ON po.number = s.po_number
LEFT JOIN purchase_order_line pol ON pol.purchase_order_id = po.id AND pol.model_id = m.id
LEFT JOIN airtime air ON air.delivered_on = s.delivered_on
"""

_IDENTICAL_DELIVERY: Final = """
UPDATE import_plan p SET outcome = 'duplicate',
    message = format('the same %s as row %s: counted once',
                     CASE p.kind WHEN 'licence' THEN 'licence line' ELSE 'item' END, d.first_row)
FROM (
    SELECT row_number, first_value(row_number) OVER (
        PARTITION BY kind, delivered_on, supplier_order_ref, po_number, delivery_ref,
                     part_number, description, file_manufacturer, serial_number, imei, iccid,
                     msisdn, quantity, unit_cost, licence_key
        ORDER BY row_number) AS first_row
    FROM import_plan
    -- Identical rows share their item key: only rows whose key repeats need comparing.
    WHERE outcome IS NULL AND (kind, COALESCE(serial_number, licence_key)) IN (
        SELECT kind, COALESCE(serial_number, licence_key) FROM import_plan
        WHERE outcome IS NULL GROUP BY 1, 2 HAVING count(*) > 1)
) d
WHERE p.row_number = d.row_number AND d.first_row <> d.row_number
"""


# Rules that only act on rows sharing a value of this column: where no value of it repeats in
# the file (the usual case) they would change nothing, and are not run (see _plan).
_REPEATS_OF: Final[dict[str, str]] = {}


def _same_key_rejects(columns: tuple[str, ...], label: str, field: str, where: str = "true") -> str:
    """Rows sharing a key but not identical: all of them rejected, naming (up to ten of) the
    others. Grouped, not self-joined, so a hostile file of one repeated key stays linear."""
    key = ", ".join(columns)
    match = " AND ".join(f"g.{c} = p.{c}" for c in columns)
    sql = f"""
UPDATE import_plan p SET outcome = 'rejected', issue_field = '{field}',
    message = format('{label} %s is also on %s %s%s with different details; '
                     'these rows were all rejected',
                     p.{columns[0]}, CASE WHEN g.n = 2 THEN 'row' ELSE 'rows' END,
                     array_to_string((array_remove(g.first_rows, p.row_number))[1:10], ', '),
                     CASE WHEN g.n > 11 THEN format(' and %s more', g.n - 11) ELSE '' END)
FROM (
    SELECT kind, {key}, count(*) AS n,
           (array_agg(row_number ORDER BY row_number))[1:11] AS first_rows
    FROM import_plan
    WHERE parse_ok AND outcome IS DISTINCT FROM 'duplicate' AND ({where})
    GROUP BY kind, {key} HAVING count(*) > 1
) g
WHERE g.kind = p.kind AND {match} AND p.outcome IS NULL
"""
    # Rows sharing the whole key share its first column (NULLs never match).
    _REPEATS_OF[sql] = columns[0]
    return sql


DELIVERY_RULES: Final = (
    _IDENTICAL_DELIVERY,
    _same_key_rejects(("imei",), "IMEI", "imei"),
    _same_key_rejects(("serial_number",), "serial number", "serial_number"),
    _same_key_rejects(("iccid",), "SIM ICCID", "iccid"),
    _same_key_rejects(("msisdn",), "number", "msisdn"),
    _same_key_rejects(("licence_key", "supplier_order_ref"), "licence key", "licence_key"),
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'part_number',
    message = format('no device model has part number %s%s — add it to the model''s part numbers',
                     COALESCE(part_number, '(none)'),
                     CASE WHEN description IS NULL THEN '' ELSE format(' (%s)', description) END)
WHERE outcome IS NULL AND kind = 'asset' AND model_id IS NULL
""",
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'quantity',
    message = 'a licence row needs a quantity of at least 1 (the number of seats)'
WHERE outcome IS NULL AND kind = 'licence' AND (quantity IS NULL OR quantity < 1)
""",
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'po_number',
    message = CASE WHEN po_number IS NULL THEN 'the row has no purchase order number'
                   ELSE format('no purchase order %s — add the purchase order before '
                               'importing its delivery', po_number) END
WHERE outcome IS NULL AND purchase_order_id IS NULL
""",
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'po_number',
    message = format('purchase order %s is cancelled', po_number)
WHERE outcome IS NULL AND po_status = 'cancelled'
""",
    # Already in the register: by IMEI, and by maker + serial.
    """
UPDATE import_plan p SET asset_id = a.id FROM asset a
WHERE p.outcome IS NULL AND p.kind = 'asset' AND a.imei = p.imei
""",
    """
UPDATE import_plan p SET serial_asset_id = a.id FROM asset a
WHERE p.outcome IS NULL AND p.kind = 'asset'
  AND a.manufacturer = p.manufacturer AND a.serial_number = p.serial_number
""",
    """
UPDATE import_plan SET outcome = 'conflict', issue_field = 'serial_number',
    message = format('the IMEI is already on asset %s but the serial number is on asset %s; '
                     'nothing was changed', asset_id, serial_asset_id)
WHERE outcome IS NULL AND asset_id <> serial_asset_id
""",
    """
UPDATE import_plan SET asset_id = serial_asset_id
WHERE outcome IS NULL AND asset_id IS NULL AND serial_asset_id IS NOT NULL
""",
    """
UPDATE import_plan p SET
    outcome = CASE WHEN cardinality(d.diffs) = 0 THEN 'unchanged' ELSE 'conflict' END,
    issue_field = CASE WHEN cardinality(d.diffs) = 0 THEN NULL
                       WHEN p.imei IS NOT NULL THEN 'imei' ELSE 'serial_number' END,
    message = CASE WHEN cardinality(d.diffs) = 0 THEN NULL
                   ELSE format('already registered as asset %s with a different %s; '
                               'it was not changed', p.asset_id,
                               array_to_string(d.diffs, ', ')) END
FROM (
    SELECT p2.row_number, array_remove(ARRAY[
        CASE WHEN p2.imei IS NOT NULL AND a.imei IS DISTINCT FROM p2.imei
             THEN format('IMEI (%s)', COALESCE(a.imei, 'none')) END,
        CASE WHEN a.serial_number <> p2.serial_number OR a.manufacturer <> p2.manufacturer
             THEN format('serial number (%s)', a.serial_number) END,
        CASE WHEN a.model_id <> p2.model_id
             THEN format('model (%s %s)', m.manufacturer, m.model_name) END,
        CASE WHEN a.purchase_order_id IS DISTINCT FROM p2.purchase_order_id
             THEN format('purchase order (%s)', COALESCE(po.number, 'none')) END,
        CASE WHEN p2.iccid IS NOT NULL AND si.iccid IS DISTINCT FROM p2.iccid
             THEN format('SIM (%s)', COALESCE(si.iccid, 'none')) END,
        -- What the file says about the delivery: a corrected file that differs is shown,
        -- never taken as unchanged (what the file leaves blank is not compared).
        CASE WHEN p2.iccid IS NOT NULL AND si.iccid = p2.iccid AND p2.msisdn IS NOT NULL
                  AND si.msisdn IS DISTINCT FROM p2.msisdn
             THEN format('SIM number (%s)', COALESCE(si.msisdn, 'none')) END,
        CASE WHEN p2.delivered_on IS NOT NULL AND a.delivered_on IS DISTINCT FROM p2.delivered_on
             THEN format('delivery date (%s)',
                         COALESCE(to_char(a.delivered_on, 'DD/MM/YYYY'), 'none')) END,
        CASE WHEN p2.supplier_order_ref IS NOT NULL
                  AND a.supplier_order_ref IS DISTINCT FROM p2.supplier_order_ref
             THEN format('supplier order number (%s)', COALESCE(a.supplier_order_ref, 'none'))
        END,
        CASE WHEN p2.delivery_ref IS NOT NULL AND a.delivery_ref IS DISTINCT FROM p2.delivery_ref
             THEN format('delivery reference (%s)', COALESCE(a.delivery_ref, 'none')) END,
        CASE WHEN p2.file_unit_cost IS NOT NULL
                  AND a.unit_cost IS DISTINCT FROM p2.file_unit_cost
             THEN format('unit cost (%s)', COALESCE(a.unit_cost::text, 'none')) END
    ], NULL) AS diffs
    FROM import_plan p2
    JOIN asset a ON a.id = p2.asset_id
    JOIN device_model m ON m.id = a.model_id
    LEFT JOIN purchase_order po ON po.id = a.purchase_order_id
    LEFT JOIN sim si ON si.asset_id = a.id
    WHERE p2.outcome IS NULL
) d
WHERE p.row_number = d.row_number
""",
    # A new handset's SIM must be new too.
    """
UPDATE import_plan p SET outcome = 'conflict', issue_field = 'iccid',
    message = format('SIM %s is already registered (sim %s%s); the handset was not added',
                     p.iccid, s.id, CASE WHEN s.asset_id IS NULL THEN ''
                                         ELSE format(', in asset %s', s.asset_id) END)
FROM sim s
WHERE p.outcome IS NULL AND p.kind = 'asset' AND s.iccid = p.iccid
""",
    """
UPDATE import_plan p SET outcome = 'conflict', issue_field = 'msisdn',
    message = format('number %s is already on SIM %s; the handset was not added',
                     p.msisdn, s.iccid)
FROM sim s
WHERE p.outcome IS NULL AND p.kind = 'asset' AND p.iccid IS NOT NULL AND s.msisdn = p.msisdn
""",
    # Licence seats: a pool's key + supplier order already added is not added twice.
    """
UPDATE import_plan p SET pool_id = lp.id FROM licence_pool lp
WHERE p.outcome IS NULL AND p.kind = 'licence' AND lp.licence_key = p.licence_key
""",
    """
UPDATE import_plan p SET
    outcome = CASE WHEN added.seats = p.quantity THEN 'unchanged' ELSE 'conflict' END,
    issue_field = CASE WHEN added.seats = p.quantity THEN NULL ELSE 'quantity' END,
    message = CASE WHEN added.seats = p.quantity THEN NULL
                   ELSE format('licence key %s already had %s seats added for supplier order %s%s; '
                               'this row says %s — nothing was changed', p.licence_key,
                               added.seats, p.supplier_order_ref,
                               CASE WHEN added.import_id IS NULL THEN ''
                                    ELSE format(' (import %s)', added.import_id) END,
                               p.quantity) END
FROM (
    SELECT DISTINCT ON (e.entity_id, e.after->>'supplier_order_ref')
           e.entity_id AS pool_id, e.after->>'supplier_order_ref' AS supplier_order_ref,
           (e.after->>'seats_added')::int AS seats, e.after->>'delivery_import_id' AS import_id
    FROM event e
    WHERE e.entity = 'licence_pool' AND e.action = 'seats_added' AND e.entity_id IN (
        SELECT pool_id FROM import_plan WHERE kind = 'licence' AND pool_id IS NOT NULL)
    ORDER BY e.entity_id, e.after->>'supplier_order_ref', e.id
) added
WHERE p.outcome IS NULL AND p.kind = 'licence' AND added.pool_id = p.pool_id
  AND added.supplier_order_ref = p.supplier_order_ref
""",
    "UPDATE import_plan SET outcome = 'new' WHERE outcome IS NULL",
)

PO_LINES: Final = """
SELECT po.number AS po_number, p.purchase_order_id, p.model_id,
       m.manufacturer, m.model_name, pol.quantity AS ordered,
       (SELECT count(*) FROM asset a
        WHERE a.purchase_order_id = p.purchase_order_id AND a.model_id = p.model_id
          AND a.delivery_import_id IS DISTINCT FROM $1) AS delivered_before,
       count(*) AS in_file, count(*) FILTER (WHERE p.outcome = 'new') AS new
FROM import_plan p
JOIN purchase_order po ON po.id = p.purchase_order_id
JOIN device_model m ON m.id = p.model_id
LEFT JOIN purchase_order_line pol
    ON pol.purchase_order_id = p.purchase_order_id AND pol.model_id = p.model_id
WHERE p.kind = 'asset' AND p.outcome IN ('new', 'unchanged')
GROUP BY po.number, p.purchase_order_id, p.model_id, m.manufacturer, m.model_name, pol.quantity
ORDER BY po.number, m.manufacturer, m.model_name
"""

# New handsets whose SIM finds no airtime contract on its despatch date: the SIM is still
# registered and fitted, without a contract, and the report says so.
SIMS_WITHOUT_AIRTIME: Final = """
SELECT delivered_on, count(*) AS sims FROM import_plan
WHERE kind = 'asset' AND outcome = 'new' AND iccid IS NOT NULL AND airtime_contract_id IS NULL
GROUP BY delivered_on ORDER BY delivered_on
"""

LICENCE_LINES: Final = """
SELECT licence_key, min(description) AS product,
       COALESCE(sum(quantity) FILTER (WHERE outcome = 'new'), 0) AS seats_new,
       count(*) AS rows, bool_or(pool_id IS NOT NULL) AS pool_exists
FROM import_plan WHERE kind = 'licence' AND outcome IN ('new', 'unchanged')
GROUP BY licence_key ORDER BY licence_key
"""

# The new handsets, their SIMs and the SIMs' fittings in one statement: the SIMs join the
# assets just inserted (RETURNING) instead of looking each one up again. No ON CONFLICT: the
# plan was made under APPLY_LOCK in this transaction, so a unique violation means another
# writer registered one of these items meanwhile (answered as a Conflict), and the arbiter
# pre-check of every unique index would cost a second index descent per row.
INSERT_DELIVERY: Final = """
WITH ins AS (
    INSERT INTO asset (model_id, manufacturer, serial_number, imei, status, purchase_order_id,
                       contract_id, delivery_import_id, supplier_order_ref, delivery_ref,
                       unit_cost, delivered_on, refresh_due_on)
    SELECT model_id, manufacturer, serial_number, imei, 'in_stock', purchase_order_id,
           contract_id, $1, supplier_order_ref, delivery_ref, unit_cost, delivered_on,
           refresh_due(NULL, delivered_on, lifecycle_months, NULL)
    FROM import_plan WHERE kind = 'asset' AND outcome = 'new' ORDER BY row_number
    RETURNING id, manufacturer, serial_number
),
new_sims AS (
    INSERT INTO sim (iccid, msisdn, contract_id, asset_id, delivery_import_id)
    SELECT p.iccid, p.msisdn, p.airtime_contract_id, a.id, $1
    FROM import_plan p
    JOIN ins a ON a.manufacturer = p.manufacturer AND a.serial_number = p.serial_number
    WHERE p.kind = 'asset' AND p.outcome = 'new' AND p.iccid IS NOT NULL
    ORDER BY p.row_number
    RETURNING id, asset_id
),
fitted AS (
    INSERT INTO sim_fitting (sim_id, asset_id) SELECT id, asset_id FROM new_sims
)
SELECT (SELECT count(*) FROM ins) AS assets, (SELECT count(*) FROM new_sims) AS sims
"""

# The created assets' events, then their SIMs', each in id order: one pass for both.
DELIVERY_EVENTS: Final = """
SELECT e.entity, e.entity_id, 'created' AS action, NULL::jsonb AS before, e.after FROM (
    SELECT 1 AS part, 'asset' AS entity, a.id AS entity_id,
           jsonb_build_object('delivery_import_id', a.delivery_import_id, 'model_id', a.model_id,
               'manufacturer', a.manufacturer, 'serial_number', a.serial_number, 'imei', a.imei,
               'status', a.status, 'purchase_order_id', a.purchase_order_id,
               'contract_id', a.contract_id, 'supplier_order_ref', a.supplier_order_ref,
               'delivery_ref', a.delivery_ref, 'unit_cost', a.unit_cost::text,
               'delivered_on', a.delivered_on, 'refresh_due_on', a.refresh_due_on) AS after
    FROM asset a WHERE a.delivery_import_id = $1
    UNION ALL
    SELECT 2, 'sim', s.id,
           jsonb_build_object('iccid', s.iccid, 'msisdn', s.msisdn, 'contract_id', s.contract_id,
               'asset_id', s.asset_id, 'fitted', true,
               'delivery_import_id', s.delivery_import_id)
    FROM sim s WHERE s.delivery_import_id = $1
) e
ORDER BY e.part, e.entity_id
"""

LICENCE_REFS: Final = """
SELECT licence_key, supplier_order_ref, sum(quantity)::int AS seats
FROM import_plan WHERE kind = 'licence' AND outcome = 'new'
GROUP BY licence_key, supplier_order_ref ORDER BY licence_key, supplier_order_ref
"""

UPSERT_POOLS: Final = """
WITH per_key AS (
    SELECT licence_key, min(description) AS product, sum(quantity)::int AS seats,
           min(contract_id) AS contract_id, min(purchase_order_id) AS purchase_order_id,
           min(unit_cost) AS unit_cost
    FROM import_plan WHERE kind = 'licence' AND outcome = 'new' GROUP BY licence_key
),
before AS (
    SELECT lp.licence_key, lp.seats FROM licence_pool lp JOIN per_key USING (licence_key)
),
up AS (
    INSERT INTO licence_pool (product, licence_key, seats, contract_id, purchase_order_id,
                              delivery_import_id, unit_cost)
    SELECT COALESCE(product, licence_key), licence_key, seats, contract_id, purchase_order_id,
           $1, unit_cost
    FROM per_key ORDER BY licence_key
    ON CONFLICT (licence_key) DO UPDATE
        SET seats = licence_pool.seats + EXCLUDED.seats,
            version = licence_pool.version + 1, updated_at = now()
    RETURNING id, licence_key, product, seats, contract_id, purchase_order_id
)
SELECT up.*, b.seats AS seats_before FROM up LEFT JOIN before b USING (licence_key)
"""


# --- installs (babcock-install) --------------------------------------------------------------

INSTALL_PLAN: Final = """
CREATE TEMP TABLE import_plan ON COMMIT DROP AS
SELECT s.row_number, s.parse_ok, 'install'::text AS kind, s.job_reference, s.job_status,
       s.completed_on, s.fleet_number, s.vrm, s.vehicle_description, s.workshop,
       s.tablet_serial, s.dock_serial, s.engineer_id, s.comments,
       CASE WHEN s.parse_ok THEN NULL ELSE 'rejected' END AS outcome,
       NULL::text AS issue_field, NULL::text AS message,
       NULL::integer AS tablet_id, NULL::integer AS dock_id, NULL::integer AS vehicle_id,
       NULL::integer AS vrm_vehicle_id, false AS new_vehicle, NULL::integer AS earlier_job_id,
       inst.contract_id AS installer_contract_id
FROM import_staged_row s
LEFT JOIN LATERAL (
    SELECT id AS contract_id FROM contract
    WHERE kind = 'installation' AND s.completed_on IS NOT NULL AND starts_on <= s.completed_on
      AND (ends_on IS NULL OR ends_on >= s.completed_on)
    ORDER BY starts_on DESC, id DESC LIMIT 1
) inst ON true
WHERE s.import_id = $1
"""


def _install_asset(role: str, column: str) -> tuple[str, ...]:
    """Find the tablet (or dock) by serial and check it can go into a vehicle."""
    return (
        f"""
UPDATE import_plan p SET {role}_id = f.id
FROM (SELECT serial_number, min(id) AS id FROM asset
      WHERE serial_number IN (SELECT {column} FROM import_plan WHERE outcome IS NULL)
      GROUP BY serial_number HAVING count(*) = 1) f
WHERE p.outcome IS NULL AND p.job_status = 'completed' AND f.serial_number = p.{column}
""",
        f"""
UPDATE import_plan SET outcome = 'rejected', issue_field = '{column}',
    message = format('no {role} with serial number %s is in the register — import its delivery '
                     '(cdw-asn) first', {column})
WHERE outcome IS NULL AND job_status = 'completed' AND {column} IS NOT NULL AND {role}_id IS NULL
""",
        f"""
UPDATE import_plan p SET outcome = 'rejected', issue_field = '{column}',
    message = format('{role} %s is already installed in vehicle %s (%s) by job %s since %s',
                     p.{column}, v.fleet_number, v.vrm, i.job_reference, i.installed_on)
FROM install i JOIN vehicle v ON v.id = i.vehicle_id
WHERE p.outcome IS NULL AND i.removed_on IS NULL
  AND (i.tablet_id = p.{role}_id OR i.dock_id = p.{role}_id)
""",
        f"""
UPDATE import_plan p SET outcome = 'rejected', issue_field = '{column}',
    message = format('{role} %s is %s; only an in-stock or staging {role} can be installed',
                     p.{column}, replace(a.status, '_', ' '))
FROM asset a
WHERE p.outcome IS NULL AND a.id = p.{role}_id AND a.status NOT IN ('in_stock', 'staging')
""",
    )


INSTALL_RULES: Final = (
    """
UPDATE import_plan p SET outcome = 'duplicate',
    message = format('the same job as row %s: counted once', d.first_row)
FROM (
    SELECT row_number, first_value(row_number) OVER (
        PARTITION BY job_reference, job_status, completed_on, fleet_number, vrm,
                     vehicle_description, workshop, tablet_serial, dock_serial, engineer_id,
                     comments
        ORDER BY row_number) AS first_row
    FROM import_plan WHERE outcome IS NULL
) d
WHERE p.row_number = d.row_number AND d.first_row <> d.row_number
""",
    _same_key_rejects(("job_reference",), "job", "job_reference"),
    _same_key_rejects(("tablet_serial",), "tablet", "tablet_serial", "job_status = 'completed'"),
    _same_key_rejects(("fleet_number",), "vehicle", "fleet_number", "job_status = 'completed'"),
    # A job seen before: a completed one is never applied again; an aborted or deferred one is
    # recorded again only when its status moved on (a deferred job that is now completed is
    # applied: it never was).
    """
UPDATE import_plan p SET outcome = 'unchanged', issue_field = 'job_reference',
    message = format(CASE WHEN j.status = 'completed'
                          THEN 'job %s was already applied%s; it was not applied again'
                          ELSE 'job %s was already recorded as ' || j.status
                               || '%s; it was not recorded again' END,
                     p.job_reference,
                     CASE WHEN j.delivery_import_id IS NULL THEN ''
                          ELSE format(' by import %s', j.delivery_import_id) END)
FROM install_job j
WHERE p.outcome IS NULL AND j.job_reference = p.job_reference
  AND (j.status = 'completed' OR j.status = p.job_status)
""",
    """
UPDATE import_plan p SET earlier_job_id = j.id FROM install_job j
WHERE p.outcome IS NULL AND j.job_reference = p.job_reference
""",
    """
UPDATE import_plan p SET outcome = 'unchanged', issue_field = 'job_reference',
    message = format('job %s was already applied; it was not applied again', p.job_reference)
FROM install i
WHERE p.outcome IS NULL AND i.job_reference = p.job_reference
""",
    *_install_asset("tablet", "tablet_serial"),
    *_install_asset("dock", "dock_serial"),
    # The vehicle: by fleet number, else by registration; an unknown one is created.
    """
UPDATE import_plan p SET vehicle_id = v.id FROM vehicle v
WHERE p.outcome IS NULL AND p.job_status = 'completed' AND v.fleet_number = p.fleet_number
""",
    """
UPDATE import_plan p SET vrm_vehicle_id = v.id FROM vehicle v
WHERE p.outcome IS NULL AND p.job_status = 'completed' AND v.vrm = p.vrm
""",
    """
UPDATE import_plan p SET outcome = 'rejected', issue_field = 'vrm',
    message = format('registration %s belongs to another vehicle (fleet number %s) than fleet '
                     'number %s', p.vrm, v.fleet_number, p.fleet_number)
FROM vehicle v
WHERE p.outcome IS NULL AND v.id = p.vrm_vehicle_id
  AND p.vrm_vehicle_id IS DISTINCT FROM p.vehicle_id
""",
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'vrm',
    message = format('vehicle %s is not in the register and the row has no registration to '
                     'create it with', fleet_number)
WHERE outcome IS NULL AND job_status = 'completed' AND vehicle_id IS NULL AND vrm IS NULL
""",
    """
UPDATE import_plan SET new_vehicle = true
WHERE outcome IS NULL AND job_status = 'completed' AND vehicle_id IS NULL
""",
    """
UPDATE import_plan p SET outcome = 'rejected', issue_field = 'fleet_number',
    message = format('vehicle %s already has tablet %s fitted (job %s); record its removal first',
                     p.fleet_number, a.serial_number, i.job_reference)
FROM install i JOIN asset a ON a.id = i.tablet_id
WHERE p.outcome IS NULL AND i.vehicle_id = p.vehicle_id AND i.removed_on IS NULL
""",
    "UPDATE import_plan SET outcome = 'new' WHERE outcome IS NULL",
)

INSERT_VEHICLES: Final = """
INSERT INTO vehicle (fleet_number, vrm, description)
SELECT DISTINCT ON (fleet_number) fleet_number, vrm, COALESCE(vehicle_description, '')
FROM import_plan WHERE outcome = 'new' AND new_vehicle
ORDER BY fleet_number, row_number
ON CONFLICT DO NOTHING
RETURNING id, fleet_number, vrm, description
"""

INSERT_INSTALLS: Final = """
INSERT INTO install (job_reference, vehicle_id, tablet_id, dock_id, installer_contract_id,
                     installed_on, delivery_import_id)
SELECT p.job_reference, v.id, p.tablet_id, p.dock_id, p.installer_contract_id, p.completed_on, $1
FROM import_plan p JOIN vehicle v ON v.fleet_number = p.fleet_number
WHERE p.outcome = 'new' AND p.job_status = 'completed'
ORDER BY p.row_number
RETURNING id, job_reference, vehicle_id, tablet_id, dock_id, installed_on
"""

DEPLOY_ASSETS: Final = """
WITH fitted AS (
    SELECT i.tablet_id AS asset_id, i.installed_on, i.id AS install_id FROM install i
    WHERE i.delivery_import_id = $1
    UNION ALL
    SELECT i.dock_id, i.installed_on, i.id FROM install i
    WHERE i.delivery_import_id = $1 AND i.dock_id IS NOT NULL
),
old AS (
    SELECT a.id, a.status, a.in_service_on, a.refresh_due_on
    FROM asset a JOIN fitted f ON f.asset_id = a.id
)
UPDATE asset a SET status = 'deployed',
    in_service_on = COALESCE(a.in_service_on, f.installed_on),
    refresh_due_on = refresh_due(COALESCE(a.in_service_on, f.installed_on), a.delivered_on,
                                 m.lifecycle_months, a.refresh_due_override),
    version = a.version + 1, updated_at = now()
FROM fitted f, old, device_model m
WHERE a.id = f.asset_id AND old.id = a.id AND m.id = a.model_id
RETURNING a.id, f.install_id, old.status AS old_status, old.in_service_on AS old_in_service_on,
          old.refresh_due_on AS old_refresh_due_on, a.in_service_on, a.refresh_due_on
"""

# New jobs are inserted; an aborted or deferred job whose status moved on is updated (the
# plan let through only those, so the conflict target never meets a completed job).
INSERT_JOBS: Final = """
-- MATERIALIZED: read once, before the insert. Inlined, the planner (which thinks the plan
-- has no 'new' rows: its statistics predate the outcomes) rescanned both tables for every
-- job written, 2,500 jobs taking minutes.
WITH earlier AS MATERIALIZED (
    SELECT j.id, j.status, j.completed_on, j.install_id, j.delivery_import_id
    FROM install_job j JOIN import_plan p ON p.earlier_job_id = j.id WHERE p.outcome = 'new'
),
written AS (
    INSERT INTO install_job AS j (job_reference, status, completed_on, fleet_number, vrm,
                                  vehicle_description, workshop, tablet_serial, dock_serial,
                                  engineer_id, comments, install_id, delivery_import_id)
    SELECT p.job_reference, p.job_status, p.completed_on, COALESCE(p.fleet_number, ''),
           COALESCE(p.vrm, ''), COALESCE(p.vehicle_description, ''), COALESCE(p.workshop, ''),
           COALESCE(p.tablet_serial, ''), p.dock_serial, COALESCE(p.engineer_id, ''),
           COALESCE(p.comments, ''), i.id, $1
    FROM import_plan p LEFT JOIN install i ON i.job_reference = p.job_reference
    WHERE p.outcome = 'new'
    ORDER BY p.row_number
    ON CONFLICT (job_reference) DO UPDATE SET
        status = EXCLUDED.status, completed_on = EXCLUDED.completed_on,
        fleet_number = EXCLUDED.fleet_number, vrm = EXCLUDED.vrm,
        vehicle_description = EXCLUDED.vehicle_description, workshop = EXCLUDED.workshop,
        tablet_serial = EXCLUDED.tablet_serial, dock_serial = EXCLUDED.dock_serial,
        engineer_id = EXCLUDED.engineer_id, comments = EXCLUDED.comments,
        install_id = EXCLUDED.install_id, delivery_import_id = EXCLUDED.delivery_import_id
    WHERE j.status <> 'completed'
    RETURNING j.id, j.job_reference, j.status, j.completed_on, j.install_id
)
SELECT w.*, e.id IS NOT NULL AS updated, e.status AS old_status,
       e.completed_on AS old_completed_on, e.install_id AS old_install_id,
       e.delivery_import_id AS old_import_id
FROM written w LEFT JOIN earlier e ON e.id = w.id
ORDER BY w.id
"""


# --- the report -----------------------------------------------------------------------------

WRITE_ISSUES: Final = """
INSERT INTO import_issue (import_id, row_number, severity, column_name, value, message)
SELECT $1, u.row_number, u.severity, u.column_name, left(u.value, 200), u.message FROM (
    SELECT w.row_number, 'warning' AS severity, NULL::text AS column_name, NULL::text AS value,
           w.message, 0 AS part, w.ord AS sub
    FROM unnest($2::int[], $3::text[]) WITH ORDINALITY AS w(row_number, message, ord)
    UNION ALL
    SELECT s.row_number, i->>0, i->>1, i->>2, i->>3, 1, 0
    FROM import_staged_row s CROSS JOIN LATERAL jsonb_array_elements(s.issues) i
    WHERE s.import_id = $1 AND s.issues IS NOT NULL
    UNION ALL
    SELECT p.row_number,
           CASE WHEN p.outcome IN ('rejected', 'conflict') THEN 'error' ELSE 'warning' END,
           $4::jsonb->>p.issue_field, s.cells->>(array_position($5::text[], p.issue_field) - 1),
           p.message, 1, 1
    FROM import_plan p JOIN import_staged_row s
      ON s.import_id = $1 AND s.row_number = p.row_number
    WHERE p.message IS NOT NULL
) u
ORDER BY u.part, u.row_number, u.sub
"""

WRITE_REJECTED: Final = """
INSERT INTO import_rejected_row (import_id, row_number, cells)
SELECT $1, s.row_number,
       jsonb_object($2::text[], ARRAY(SELECT c.cell FROM jsonb_array_elements_text(s.cells)
                                      WITH ORDINALITY AS c(cell, n) ORDER BY c.n))
FROM import_plan p JOIN import_staged_row s ON s.import_id = $1 AND s.row_number = p.row_number
WHERE p.outcome IN ('rejected', 'conflict')
ORDER BY s.row_number
"""

# Per kind and outcome: rows, then two figures that depend on the profile (licence seats and
# handsets with a SIM; completed jobs and vehicles to create).
OUTCOMES: Final = """
SELECT kind, outcome, count(*) AS n, COALESCE(sum(quantity), 0) AS quantity,
       count(*) FILTER (WHERE iccid IS NOT NULL) AS extra
FROM (SELECT kind, outcome,
             CASE WHEN kind = 'licence' THEN quantity END AS quantity,
             CASE WHEN kind = 'asset' THEN iccid END AS iccid
      FROM import_plan) p
GROUP BY kind, outcome
"""

INSTALL_OUTCOMES: Final = """
SELECT kind, outcome, count(*) AS n,
       count(*) FILTER (WHERE job_status = 'completed') AS quantity,
       count(DISTINCT fleet_number) FILTER (WHERE new_vehicle) AS extra
FROM import_plan GROUP BY kind, outcome
"""


def _decode(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str | bytes):
        decoded: dict[str, Any] = msgspec.json.decode(raw)
        return decoded
    return dict(raw or {})


async def _plan(conn: asyncpg.Connection, import_id: int, kind: str) -> None:
    # The staged rows were COPYed moments ago: the table's statistics do not know them yet,
    # and a nested loop planned on "a few rows" is quadratic on 300,000. Hash joins are
    # right for every statement that reads the staged rows.
    await conn.execute("SET LOCAL enable_nestloop = off")
    await conn.execute(INSTALL_PLAN if kind == "install" else DELIVERY_PLAN, import_id)
    await conn.execute("RESET enable_nestloop")
    await conn.execute("ANALYZE import_plan")
    rules = INSTALL_RULES if kind == "install" else DELIVERY_RULES
    keys = sorted({_REPEATS_OF[r] for r in rules if r in _REPEATS_OF})
    repeats = await conn.fetchrow(
        "SELECT "
        + ", ".join(f"count({k}) > count(DISTINCT {k}) AS {k}" for k in keys)
        + " FROM import_plan"
    )
    assert repeats is not None
    for statement in rules:
        key = _REPEATS_OF.get(statement)
        if key is not None and not repeats[key]:
            continue
        await conn.execute(statement)


def _counts(rows: Sequence[asyncpg.Record], kind: str, staged_rows: int) -> dict[str, int]:
    counts = {
        "rows": staged_rows,
        "new": 0,
        "unchanged": 0,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": 0,
    }
    key = {"duplicate": "duplicates", "conflict": "conflicts"}
    if kind == "install":
        counts.update(installs=0, vehicles_created=0)
    else:
        counts.update(sims=0, licence_rows=0, licence_seats=0)
    for r in rows:
        outcome = r["outcome"]
        counts[key.get(outcome, outcome)] += r["n"]
        if outcome != "new":
            continue
        if kind == "install":
            counts["installs"] += r["quantity"]
            counts["vehicles_created"] += r["extra"]
        elif r["kind"] == "licence":
            counts["licence_rows"] += r["n"]
            counts["licence_seats"] += int(r["quantity"])
            counts["new"] -= r["n"]  # "new" counts assets
        else:
            counts["sims"] += r["extra"]
    return counts


def _po_lines(rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    lines = []
    for r in rows:
        ordered = r["ordered"]
        delivered = r["delivered_before"] + r["new"]
        lines.append(
            {
                "po_number": r["po_number"],
                "purchase_order_id": r["purchase_order_id"],
                "model_id": r["model_id"],
                "model": f"{r['manufacturer']} {r['model_name']}",
                "ordered": ordered,
                "delivered_before": r["delivered_before"],
                "in_file": r["in_file"],
                "new": r["new"],
                "over_delivered": max(0, delivered - (ordered or 0)),
            }
        )
    return lines


def _po_warnings(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        if line["ordered"] is None:
            message = (
                f"{line['model']} is not on purchase order {line['po_number']} "
                f"({line['new']} new in this file)"
            )
        elif line["over_delivered"]:
            message = (
                f"purchase order {line['po_number']}, {line['model']}: ordered "
                f"{line['ordered']}, delivered before {line['delivered_before']}, new in this "
                f"file {line['new']} — over-delivered by {line['over_delivered']}"
            )
        else:
            continue
        out.append({"row": None, "message": message})
    return out


async def evaluate(
    conn: asyncpg.Connection,
    actor: Actor,
    import_id: int,
    *,
    apply: bool,
    allow_partial: bool,
    staged_rows: int,
) -> None:
    """Classify the staged rows, write the report and, if ``apply``, commit what may be."""
    imp = await conn.fetchrow(
        "SELECT id, sha256, profile, summary FROM delivery_import WHERE id = $1 FOR UPDATE",
        import_id,
    )
    assert imp is not None
    summary = _decode(imp["summary"])
    kind = str(summary.get("kind", "delivery"))
    if apply:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPLY_LOCK)
    # Sorts and hashes of a whole file's rows: in memory, not spilled to disk (this
    # transaction only).
    await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    await _plan(conn, import_id, kind)
    # The plan's statistics were taken before the rules decided the outcomes: every later
    # statement filters on outcome, and without this the planner takes "new" rows for none.
    await conn.execute("ANALYZE import_plan (outcome)")

    counts = _counts(
        await conn.fetch(INSTALL_OUTCOMES if kind == "install" else OUTCOMES), kind, staged_rows
    )
    warnings = [w for w in summary.get("file_warnings", []) if not w.get("generated")]
    previous = await conn.fetchrow(
        "SELECT id, committed_at FROM delivery_import WHERE sha256 = $1 AND profile = $2"
        " AND status = 'committed' AND id <> $3 ORDER BY id LIMIT 1",
        imp["sha256"],
        imp["profile"],
        import_id,
    )
    summary["previous_import"] = None
    if previous is not None:
        when = previous["committed_at"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        summary["previous_import"] = {"id": previous["id"], "committed_at": when}
        warnings.insert(
            0,
            {
                "row": None,
                "message": f"this file was committed as import {previous['id']} on {when}",
                "generated": True,
            },
        )
    if kind == "install":
        summary["po_lines"], summary["licences"] = [], []
    else:
        summary["po_lines"] = _po_lines(await conn.fetch(PO_LINES, import_id))
        summary["licences"] = [dict(r) for r in await conn.fetch(LICENCE_LINES)]
        warnings.extend({**w, "generated": True} for w in _po_warnings(summary["po_lines"]))
        for r in await conn.fetch(SIMS_WITHOUT_AIRTIME):
            day = r["delivered_on"]
            when = "with no despatch date" if day is None else f"despatched on {day:%d/%m/%Y}"
            message = (
                f"{r['sims']:,} SIM(s) {when}: no airtime contract is active then, so they "
                "are registered without one — add the airtime contract to put them on it"
            )
            warnings.append({"row": None, "message": message, "generated": True})
    summary["file_warnings"] = warnings

    fields = list(summary.get("fields", []))
    header_of = dict(zip(fields, summary.get("headers", []), strict=False))
    await conn.execute("DELETE FROM import_issue WHERE import_id = $1", import_id)
    await conn.execute("SET LOCAL enable_nestloop = off")  # see _plan
    await conn.execute(
        WRITE_ISSUES,
        import_id,
        [w.get("row") for w in warnings],
        [w["message"] for w in warnings],
        msgspec.json.encode(header_of).decode(),
        fields,
    )
    await conn.execute("DELETE FROM import_rejected_row WHERE import_id = $1", import_id)
    await conn.execute(WRITE_REJECTED, import_id, summary.get("headers", []))
    await conn.execute("RESET enable_nestloop")
    counts["warnings"] = await conn.fetchval(
        "SELECT count(*) FROM import_issue WHERE import_id = $1 AND severity = 'warning'",
        import_id,
    )

    blocked = counts["rejected"] + counts["conflicts"] > 0 and not allow_partial
    if not apply:
        status = "previewed"
    elif blocked:
        status = "rejected"
        summary["message"] = (
            f"{counts['rejected']:,} row(s) rejected and {counts['conflicts']:,} in conflict: "
            "nothing was committed; fix them, or commit with allow_partial to commit the "
            "valid rows"
        )
    else:
        status = "committed"
        if kind == "install":
            await _apply_installs(conn, actor, import_id, counts)
        else:
            await _apply_deliveries(conn, actor, import_id, counts)
        summary.pop("message", None)

    await conn.execute(
        "UPDATE delivery_import SET status = $2::text, allow_partial = $3, counts = $4::jsonb,"
        " summary = $5::jsonb,"
        " committed_by = CASE WHEN $2::text = 'committed' THEN $6 ELSE committed_by END,"
        " committed_at = CASE WHEN $2::text = 'committed' THEN now() ELSE committed_at END"
        " WHERE id = $1",
        import_id,
        status,
        allow_partial,
        msgspec.json.encode(counts).decode(),
        msgspec.json.encode(summary).decode(),
        actor.name,
    )
    await audit.record(
        conn, actor, "delivery_import", import_id, status, after={"status": status, **counts}
    )
    if status == "committed":
        await conn.execute("DELETE FROM import_staged_row WHERE import_id = $1", import_id)


async def _apply_deliveries(
    conn: asyncpg.Connection, actor: Actor, import_id: int, counts: Mapping[str, int]
) -> None:
    if counts["new"]:
        # The statement joins rows it has just inserted, which the planner cannot count:
        # hash joins, never a nested loop over them (see _plan).
        await conn.execute("SET LOCAL enable_nestloop = off")
        try:
            await conn.fetchrow(INSERT_DELIVERY, import_id)
        except asyncpg.UniqueViolationError:
            # Another writer registered one of these items after the plan was made.
            raise Conflict(
                "the register changed while the import was being applied; commit it again"
            ) from None
        await audit.record_from_query(conn, actor, DELIVERY_EVENTS, import_id)
        await conn.execute("RESET enable_nestloop")
    if counts["licence_rows"]:
        await _apply_licences(conn, actor, import_id)


async def _apply_licences(conn: asyncpg.Connection, actor: Actor, import_id: int) -> None:
    refs = await conn.fetch(LICENCE_REFS)
    pools = await conn.fetch(UPSERT_POOLS, import_id)
    pool_ids = {p["licence_key"]: p["id"] for p in pools}
    events = []
    for p in pools:
        if p["seats_before"] is None:
            after = {
                "product": p["product"],
                "seats": p["seats"],
                "contract_id": p["contract_id"],
                "purchase_order_id": p["purchase_order_id"],
                "delivery_import_id": import_id,
            }
            events.append(audit.EventRow("licence_pool", p["id"], "created", None, after))
        else:
            events.append(
                audit.EventRow(
                    "licence_pool",
                    p["id"],
                    "updated",
                    {"seats": p["seats_before"]},
                    {"seats": p["seats"]},
                )
            )
    for r in refs:
        after = {
            "supplier_order_ref": r["supplier_order_ref"],
            "seats_added": r["seats"],
            "delivery_import_id": import_id,
        }
        events.append(
            audit.EventRow("licence_pool", pool_ids[r["licence_key"]], "seats_added", None, after)
        )
    await audit.record_many(conn, actor, events)


async def _apply_installs(
    conn: asyncpg.Connection, actor: Actor, import_id: int, counts: dict[str, int]
) -> None:
    events: list[audit.EventRow] = []
    for v in await conn.fetch(INSERT_VEHICLES):
        after = {
            "fleet_number": v["fleet_number"],
            "vrm": v["vrm"],
            "description": v["description"],
        }
        events.append(audit.EventRow("vehicle", v["id"], "created", None, after))
    installs = await conn.fetch(INSERT_INSTALLS, import_id)
    for i in installs:
        after = {
            "job_reference": i["job_reference"],
            "vehicle_id": i["vehicle_id"],
            "tablet_id": i["tablet_id"],
            "dock_id": i["dock_id"],
            "installed_on": i["installed_on"],
            "delivery_import_id": import_id,
        }
        events.append(audit.EventRow("install", i["id"], "created", None, after))
    for a in await conn.fetch(DEPLOY_ASSETS, import_id):
        before = {
            "status": a["old_status"],
            "in_service_on": a["old_in_service_on"],
            "refresh_due_on": a["old_refresh_due_on"],
        }
        after = {
            "status": "deployed",
            "in_service_on": a["in_service_on"],
            "refresh_due_on": a["refresh_due_on"],
            "install_id": a["install_id"],
        }
        events.append(audit.EventRow("asset", a["id"], "transition", before, after))
    for j in await conn.fetch(INSERT_JOBS, import_id):
        after = {
            "job_reference": j["job_reference"],
            "status": j["status"],
            "install_id": j["install_id"],
            "delivery_import_id": import_id,
        }
        if not j["updated"]:
            events.append(audit.EventRow("install_job", j["id"], "created", None, after))
            continue
        before = {
            "status": j["old_status"],
            "completed_on": j["old_completed_on"],
            "install_id": j["old_install_id"],
            "delivery_import_id": j["old_import_id"],
        }
        after["completed_on"] = j["completed_on"]
        events.append(audit.EventRow("install_job", j["id"], "updated", before, after))
    await audit.record_many(conn, actor, events)
    counts["installs"] = len(installs)
