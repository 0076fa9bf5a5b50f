"""How an install job (babcock-install) is classified: new, unchanged, duplicate or rejected.

The rules, in order: a row identical to an earlier one is a duplicate (counted once); rows
sharing a job reference, or a completed job's tablet or vehicle, with other details are all
rejected. A job seen before is unchanged: a completed one is never applied again, an aborted
or deferred one is recorded again only when its status moved on. A completed job's tablet and
dock must be in the register, not installed elsewhere, and in stock or staging; its vehicle is
found by fleet number, else by registration (one that belongs to another vehicle is
rejected), and created when unknown; a vehicle that already has a tablet fitted is rejected.
What is left is new.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc.imports.plan import Plan, same_key_rejects
from fleetsvc.imports.summary import InstallCounts

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
    same_key_rejects(("job_reference",), "job", "job_reference"),
    same_key_rejects(("tablet_serial",), "tablet", "tablet_serial", "job_status = 'completed'"),
    same_key_rejects(("fleet_number",), "vehicle", "fleet_number", "job_status = 'completed'"),
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


PLAN: Final = Plan(INSTALL_PLAN, INSTALL_RULES)

# Per outcome: jobs, then the figures a commit adds (completed jobs, vehicles to create).
INSTALL_OUTCOMES: Final = """
SELECT kind, outcome, count(*) AS n,
       count(*) FILTER (WHERE job_status = 'completed') AS quantity,
       count(DISTINCT fleet_number) FILTER (WHERE new_vehicle) AS extra
FROM import_plan GROUP BY kind, outcome
"""


async def count(conn: asyncpg.Connection, staged_rows: int) -> InstallCounts:
    """The plan's jobs by outcome, and what the new ones install and create."""
    counts = InstallCounts(rows=staged_rows)
    for r in await conn.fetch(INSTALL_OUTCOMES):
        counts.add(r["outcome"], r["n"])
        if r["outcome"] == "new":
            counts.installs += r["quantity"]
            counts.vehicles_created += r["extra"]
    return counts
