"""How a delivery row (vodafone-despatch, cdw-asn) is classified: new, unchanged, duplicate,
conflict or rejected.

The plan joins each staged row to its device model (by part number, else by a description
alias naming one model), its purchase order and line, the airtime contract its SIM goes on,
and what the register holds already (the item by IMEI or by maker and serial, the SIM by
ICCID or by number). Then the rules, in order: a row identical to an earlier one is a
duplicate (counted once); rows sharing an IMEI, serial, ICCID, number or licence key with
other details are all rejected; an unknown part number, a licence row without seats, a
missing or cancelled purchase order reject the row. An item already in the register is
unchanged when the file says what the register says and a conflict when it says otherwise,
never overwritten; a new handset whose SIM or number is registered already is a conflict; a
licence line already added for its supplier order with another seat count is a conflict.
What is left is new.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc.imports.plan import Plan, after, guarded, repeats, same_key_rejects
from fleetsvc.imports.summary import DeliveryCounts

# The staged rows, held once for the three reads below (a file of up to LARGE_FILE_ROWS rows).
_STAGED: Final = """
WITH staged AS (
    SELECT * FROM import_staged_row WHERE import_id = $1
),
items AS (
    SELECT DISTINCT COALESCE(part_number, '') AS part_number,
           COALESCE(manufacturer, '') AS manufacturer, COALESCE(description, '') AS description
    FROM staged
),
dates AS (
    SELECT DISTINCT delivered_on FROM staged WHERE delivered_on IS NOT NULL
),"""
# A larger file's staged rows, read twice instead: once for what its items and dates are (a
# handful of kinds), then row by row (see plan.LARGE_FILE_ROWS).
_STAGED_LARGE: Final = """
WITH kinds AS (
    SELECT DISTINCT COALESCE(part_number, '') AS part_number,
           COALESCE(manufacturer, '') AS manufacturer, COALESCE(description, '') AS description,
           delivered_on
    FROM import_staged_row WHERE import_id = $1
),
items AS (
    SELECT DISTINCT part_number, manufacturer, description FROM kinds
),
dates AS (
    SELECT DISTINCT delivered_on FROM kinds WHERE delivered_on IS NOT NULL
),"""

# Every row starts as new (parse errors as rejected), and each rule changes only rows still
# new: no statement rewrites every row at the end to say what no rule took.
_PLAN_ROWS: Final = r"""
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
       CASE WHEN s.parse_ok THEN 'new' ELSE 'rejected' END AS outcome,
       NULL::text AS issue_field, NULL::text AS message,
       NULL::integer AS asset_id, NULL::integer AS serial_asset_id, NULL::integer AS pool_id
FROM {rows} s
LEFT JOIN resolved r ON r.part_number = COALESCE(s.part_number, '')
    AND r.manufacturer = COALESCE(s.manufacturer, '')
    AND r.description = COALESCE(s.description, '')
LEFT JOIN device_model m ON m.id = r.model_id
LEFT JOIN purchase_order po ON po.number = s.po_number
LEFT JOIN purchase_order_line pol ON pol.purchase_order_id = po.id AND pol.model_id = m.id
LEFT JOIN airtime air ON air.delivered_on = s.delivered_on
{where}"""


DELIVERY_PLAN: Final = (
    "CREATE TEMP TABLE import_plan ON COMMIT DROP AS"
    + _STAGED
    + _PLAN_ROWS.format(rows="staged", where="")
)
DELIVERY_PLAN_LARGE: Final = (
    "CREATE TEMP TABLE import_plan ON COMMIT DROP AS"
    + _STAGED_LARGE
    + _PLAN_ROWS.format(rows="import_staged_row", where="WHERE s.import_id = $1\n")
)

_IDENTICAL_DELIVERY: Final = guarded(
    """
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
    WHERE outcome = 'new' AND (kind, COALESCE(serial_number, licence_key)) IN (
        SELECT kind, COALESCE(serial_number, licence_key) FROM import_plan
        WHERE outcome = 'new' GROUP BY 1, 2 HAVING count(*) > 1)
) d
WHERE p.row_number = d.row_number AND d.first_row <> d.row_number
""",
    # A repeated item key is a repeated serial (an asset's) or licence key (a licence's).
    f"{repeats('serial_number')} OR {repeats('licence_key')}",
)

# The lookups of the register: the rules after them act only on rows they matched.
_BY_IMEI: Final = """
UPDATE import_plan p SET asset_id = a.id FROM asset a
WHERE p.outcome = 'new' AND p.kind = 'asset' AND a.imei = p.imei
"""
_BY_SERIAL: Final = """
UPDATE import_plan p SET serial_asset_id = a.id FROM asset a
WHERE p.outcome = 'new' AND p.kind = 'asset'
  AND a.manufacturer = p.manufacturer AND a.serial_number = p.serial_number
"""

# Each same-key rule rejects rows still new.
_NEW: Final = "= 'new'"
# The guard of the rules about licence rows: a file of handsets has none.
_LICENCES: Final = "bool_or(kind = 'licence')"


DELIVERY_RULES: Final = (
    _IDENTICAL_DELIVERY,
    same_key_rejects(("imei",), "IMEI", "imei", undecided=_NEW),
    same_key_rejects(("serial_number",), "serial number", "serial_number", undecided=_NEW),
    same_key_rejects(("iccid",), "SIM ICCID", "iccid", undecided=_NEW),
    same_key_rejects(("msisdn",), "number", "msisdn", undecided=_NEW),
    same_key_rejects(
        ("licence_key", "supplier_order_ref"), "licence key", "licence_key", undecided=_NEW
    ),
    guarded(
        """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'part_number',
    message = format('no device model has part number %s%s — add it to the model''s part numbers',
                     COALESCE(part_number, '(none)'),
                     CASE WHEN description IS NULL THEN '' ELSE format(' (%s)', description) END)
WHERE outcome = 'new' AND kind = 'asset' AND model_id IS NULL
""",
        "bool_or(kind = 'asset' AND model_id IS NULL)",
    ),
    guarded(
        """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'quantity',
    message = 'a licence row needs a quantity of at least 1 (the number of seats)'
WHERE outcome = 'new' AND kind = 'licence' AND (quantity IS NULL OR quantity < 1)
""",
        _LICENCES,
    ),
    guarded(
        """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'po_number',
    message = CASE WHEN po_number IS NULL THEN 'the row has no purchase order number'
                   ELSE format('no purchase order %s — add the purchase order before '
                               'importing its delivery', po_number) END
WHERE outcome = 'new' AND purchase_order_id IS NULL
""",
        "bool_or(purchase_order_id IS NULL)",
    ),
    guarded(
        """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'po_number',
    message = format('purchase order %s is cancelled', po_number)
WHERE outcome = 'new' AND po_status = 'cancelled'
""",
        "bool_or(po_status = 'cancelled')",
    ),
    # Already in the register: by IMEI, and by maker + serial.
    _BY_IMEI,
    _BY_SERIAL,
    after(
        """
UPDATE import_plan SET outcome = 'conflict', issue_field = 'serial_number',
    message = format('the IMEI is already on asset %s but the serial number is on asset %s; '
                     'nothing was changed', asset_id, serial_asset_id)
WHERE outcome = 'new' AND asset_id <> serial_asset_id
""",
        _BY_IMEI,
    ),
    after(
        """
UPDATE import_plan SET asset_id = serial_asset_id
WHERE outcome = 'new' AND asset_id IS NULL AND serial_asset_id IS NOT NULL
""",
        _BY_SERIAL,
    ),
    # Which rows are in the register is known now, and the comparison next joins only those
    # to it. With the statistics of before the matches (every asset_id NULL) the planner
    # takes them for one row and nests loops over all of them: twice the work for a file
    # whose items are all registered.
    after("ANALYZE import_plan (asset_id)", _BY_IMEI, _BY_SERIAL),
    after(
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
        -- Each field that differs, as the file gives it and as the register has it.
        CASE WHEN p2.imei IS NOT NULL AND a.imei IS DISTINCT FROM p2.imei
             THEN format('IMEI (file %s, register %s)', p2.imei, COALESCE(a.imei, 'none')) END,
        CASE WHEN a.serial_number <> p2.serial_number OR a.manufacturer <> p2.manufacturer
             THEN format('serial number (file %s, register %s)', p2.serial_number,
                         a.serial_number) END,
        CASE WHEN a.model_id <> p2.model_id
             THEN format('model (file %s %s, register %s %s)', fm.manufacturer, fm.model_name,
                         m.manufacturer, m.model_name) END,
        CASE WHEN a.purchase_order_id IS DISTINCT FROM p2.purchase_order_id
             THEN format('purchase order (file %s, register %s)', p2.po_number,
                         COALESCE(po.number, 'none')) END,
        CASE WHEN p2.iccid IS NOT NULL AND si.iccid IS DISTINCT FROM p2.iccid
             THEN format('SIM (file %s, register %s)', p2.iccid, COALESCE(si.iccid, 'none')) END,
        -- What the file says about the delivery: a corrected file that differs is shown,
        -- never taken as unchanged (what the file leaves blank is not compared).
        CASE WHEN p2.iccid IS NOT NULL AND si.iccid = p2.iccid AND p2.msisdn IS NOT NULL
                  AND si.msisdn IS DISTINCT FROM p2.msisdn
             THEN format('SIM number (file %s, register %s)', p2.msisdn,
                         COALESCE(si.msisdn, 'none')) END,
        CASE WHEN p2.delivered_on IS NOT NULL AND a.delivered_on IS DISTINCT FROM p2.delivered_on
             THEN format('delivery date (file %s, register %s)',
                         to_char(p2.delivered_on, 'DD/MM/YYYY'),
                         COALESCE(to_char(a.delivered_on, 'DD/MM/YYYY'), 'none')) END,
        CASE WHEN p2.supplier_order_ref IS NOT NULL
                  AND a.supplier_order_ref IS DISTINCT FROM p2.supplier_order_ref
             THEN format('supplier order number (file %s, register %s)', p2.supplier_order_ref,
                         COALESCE(a.supplier_order_ref, 'none'))
        END,
        CASE WHEN p2.delivery_ref IS NOT NULL AND a.delivery_ref IS DISTINCT FROM p2.delivery_ref
             THEN format('delivery reference (file %s, register %s)', p2.delivery_ref,
                         COALESCE(a.delivery_ref, 'none')) END,
        CASE WHEN p2.file_unit_cost IS NOT NULL
                  AND a.unit_cost IS DISTINCT FROM p2.file_unit_cost
             THEN format('unit cost (file %s, register %s)', p2.file_unit_cost,
                         COALESCE(a.unit_cost::text, 'none')) END
    ], NULL) AS diffs
    FROM import_plan p2
    JOIN asset a ON a.id = p2.asset_id
    JOIN device_model m ON m.id = a.model_id
    JOIN device_model fm ON fm.id = p2.model_id
    LEFT JOIN purchase_order po ON po.id = a.purchase_order_id
    LEFT JOIN sim si ON si.asset_id = a.id
    WHERE p2.outcome = 'new' AND p2.asset_id IS NOT NULL
) d
WHERE p.row_number = d.row_number
""",
        _BY_IMEI,
        _BY_SERIAL,
    ),
    # A new handset's SIM must be new too.
    """
UPDATE import_plan p SET outcome = 'conflict', issue_field = 'iccid',
    message = format('SIM %s is already registered (sim %s%s); the handset was not added',
                     p.iccid, s.id, CASE WHEN s.asset_id IS NULL THEN ''
                                         ELSE format(', in asset %s', s.asset_id) END)
FROM sim s
WHERE p.outcome = 'new' AND p.kind = 'asset' AND s.iccid = p.iccid
""",
    """
UPDATE import_plan p SET outcome = 'conflict', issue_field = 'msisdn',
    message = format('number %s is already on SIM %s; the handset was not added',
                     p.msisdn, s.iccid)
FROM sim s
WHERE p.outcome = 'new' AND p.kind = 'asset' AND p.iccid IS NOT NULL AND s.msisdn = p.msisdn
""",
    # Licence seats: a pool's key + supplier order already added is not added twice.
    guarded(
        """
UPDATE import_plan p SET pool_id = lp.id FROM licence_pool lp
WHERE p.outcome = 'new' AND p.kind = 'licence' AND lp.licence_key = p.licence_key
""",
        _LICENCES,
    ),
    guarded(
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
WHERE p.outcome = 'new' AND p.kind = 'licence' AND added.pool_id = p.pool_id
  AND added.supplier_order_ref = p.supplier_order_ref
""",
        _LICENCES,
    ),
)


PLAN: Final = Plan(DELIVERY_PLAN, DELIVERY_RULES, create_large=DELIVERY_PLAN_LARGE)

# Per kind and outcome: rows, then the figures a commit adds (licence seats, and items with
# a SIM).
OUTCOMES: Final = """
SELECT kind, outcome, count(*) AS n, COALESCE(sum(quantity), 0) AS quantity,
       count(*) FILTER (WHERE iccid IS NOT NULL) AS extra
FROM (SELECT kind, outcome,
             CASE WHEN kind = 'licence' THEN quantity END AS quantity,
             CASE WHEN kind = 'asset' THEN iccid END AS iccid
      FROM import_plan) p
GROUP BY kind, outcome
"""


async def count(conn: asyncpg.Connection, staged_rows: int) -> DeliveryCounts:
    """The plan's rows by outcome; ``new`` counts items, the new licence lines apart."""
    counts = DeliveryCounts(rows=staged_rows)
    for r in await conn.fetch(OUTCOMES):
        counts.add(r["outcome"], r["n"])
        if r["outcome"] != "new":
            continue
        if r["kind"] == "licence":
            counts.licence_rows += r["n"]
            counts.licence_seats += int(r["quantity"])
            counts.new -= r["n"]  # "new" counts assets
        else:
            counts.sims += r["extra"]
    return counts
