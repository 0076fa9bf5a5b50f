"""The demo fleet: a register shaped like the real programme, loaded through the
product's own bulk paths (COPY and set-based SQL, and the delivery imports for
the devices themselves), in well under a minute, and only once.

10,000 Galaxy A32 handsets in service during 2021/22 and 29,737 in 2022/23 on
the Vodafone handset contract, with SIMs on the airtime contract; about 2,500
IVMA tablets with docks fitted to response vehicles by Babcock in 2021/22, 200
spare recovered tablets rebuilt and issued to special constables; a NetMotion
licence pool; about 45,000 people across business units. The refresh forecast
then shows £3.0m of handsets due in 2024/25 and £8.9m in 2025/26.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from importers.fields import luhn_check_digit

MARKER_CONTRACT = "VF-HANDSET-2021"
NETMOTION_KEY = "NMX-7Q2P-44KD-9ZZA"
SEED = 20211

BUSINESS_UNITS = [
    ("CE", "Central East BCU"),
    ("CN", "Central North BCU"),
    ("CS", "Central South BCU"),
    ("CW", "Central West BCU"),
    ("EA", "East Area BCU"),
    ("NA", "North Area BCU"),
    ("NE", "North East BCU"),
    ("NW", "North West BCU"),
    ("SE", "South East BCU"),
    ("SN", "South BCU"),
    ("SW", "South West BCU"),
    ("WA", "West Area BCU"),
    ("AW", "Central West Aviation OCU"),
    ("MO7", "Taskforce OCU"),
    ("RTPC", "Roads and Transport OCU"),
    ("SC", "Special Constabulary"),
    ("DP", "Digital Policing"),
    ("FP", "Frontline Policing HQ"),
]


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is; the tests load a scaled-down copy of the same shape."""

    people: int = 45_000
    specials: int = 1_500
    staff: int = 11_000
    vehicles: int = 2_500
    handsets_2021: int = 10_000
    handsets_2022: int = 29_737
    tablets: int = 2_700  # 2,500 fitted, 200 spare and rebuilt for specials
    netmotion_seats: int = 2_750

    def scaled(self, factor: float) -> DemoSize:
        return DemoSize(**{k: max(1, round(v * factor)) for k, v in self.__dict__.items()})


FULL = DemoSize()


@dataclass
class DemoSummary:
    already_loaded: bool = False
    counts: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str], None]


def _imei(n: int) -> str:
    body = f"35209912{n:06d}"
    return body + luhn_check_digit(body)


def _iccid(n: int) -> str:
    body = f"894411{n:012d}"
    return body + luhn_check_digit(body)


def _vrm(n: int) -> str:
    letters = "ABCDEFGHJKLMNOPRSTUVWXY"
    area = "B" + letters[n % len(letters)]
    year = ("21", "71", "20", "70", "19")[n % 5]
    tail = "".join(letters[(n // len(letters) ** i) % len(letters)] for i in range(3))
    return f"{area}{year}{tail}"


def _spread(start: dt.date, end: dt.date, n: int) -> Iterator[dt.date]:
    days = (end - start).days
    for i in range(n):
        yield start + dt.timedelta(days=(i * days) // max(n - 1, 1))


async def already_loaded(conn: asyncpg.Connection) -> bool:
    found = await conn.fetchval("SELECT 1 FROM contract WHERE reference = $1", MARKER_CONTRACT)
    return bool(found)


async def _copy(
    conn: asyncpg.Connection, table: str, columns: list[str], records: Sequence[tuple[object, ...]]
) -> None:
    await conn.copy_records_to_table(table, records=records, columns=columns)


async def _events_for_new(
    conn: asyncpg.Connection, actor: Actor, table: str, entity: str, since_id: int, fields: str
) -> int:
    """One ``created`` event per row this load added to ``table``."""
    return await audit.record_from_query(
        conn,
        actor,
        f"SELECT '{entity}'::text AS entity, t.id::bigint AS entity_id, 'created'::text AS action,"
        f" NULL::jsonb AS before, jsonb_build_object({fields}, 'source', 'demo') AS after"
        f" FROM {table} t WHERE t.id > $1",
        since_id,
    )


async def _max_id(conn: asyncpg.Connection, table: str) -> int:
    return int(await conn.fetchval(f"SELECT COALESCE(max(id), 0) FROM {table}"))


async def load_reference_data(
    conn: asyncpg.Connection, actor: Actor, size: DemoSize = FULL
) -> dict[str, int]:
    """Business units, people, vehicles, suppliers, contracts, models and POs."""
    rng = random.Random(SEED)  # noqa: S311 - repeatable demo data, not secrets
    counts: dict[str, int] = {}

    start = await _max_id(conn, "business_unit")
    await _copy(
        conn,
        "business_unit",
        ["code", "name"],
        [
            (code, name)
            for code, name in BUSINESS_UNITS
            if not await conn.fetchval("SELECT 1 FROM business_unit WHERE code = $1", code)
        ],
    )
    counts["business_units"] = await _events_for_new(
        conn, actor, "business_unit", "business_unit", start, "'code', t.code"
    )
    bu = {r["code"]: r["id"] for r in await conn.fetch("SELECT id, code FROM business_unit")}
    frontline = [bu[c] for c, _ in BUSINESS_UNITS[:12]]

    start = await _max_id(conn, "person")
    people = []
    for n in range(size.people):
        if n < size.specials:
            kind, unit = "special_constable", bu["SC"]
        elif n < size.specials + size.staff:
            kind, unit = "staff", bu[rng.choice(["DP", "FP", "RTPC", "MO7"])]
        else:
            kind, unit = "officer", rng.choice(frontline)
        people.append(
            (
                f"D{n:07d}",
                f"demo.user{n:06d}@police.example",
                f"Demo User {n:06d}",
                unit,
                kind,
                True,
            )
        )
    await _copy(
        conn,
        "person",
        ["employee_number", "upn", "display_name", "business_unit_id", "kind", "active"],
        people,
    )
    counts["people"] = await _events_for_new(
        conn, actor, "person", "person", start, "'employee_number', t.employee_number"
    )

    start = await _max_id(conn, "vehicle")
    vehicles = [
        (f"DV{n:05d}", _vrm(n), "BMW 330e Touring IRV", rng.choice(frontline), "active")
        for n in range(size.vehicles)
    ]
    await _copy(
        conn,
        "vehicle",
        ["fleet_number", "vrm", "description", "business_unit_id", "status"],
        vehicles,
    )
    counts["vehicles"] = await _events_for_new(
        conn, actor, "vehicle", "vehicle", start, "'fleet_number', t.fleet_number, 'vrm', t.vrm"
    )
    return counts


async def _insert_returning_id(
    conn: asyncpg.Connection, actor: Actor, table: str, entity: str, **values: object
) -> int:
    cols = list(values)
    marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
    new_id = int(
        await conn.fetchval(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) RETURNING id",
            *values.values(),
        )
    )
    await audit.record(conn, actor, entity, new_id, "created", after=dict(values))
    return new_id


@dataclass(frozen=True)
class Procurement:
    handset_model: int
    tablet_model: int
    dock_model: int
    handset_po_2021: str
    handset_po_2022: str
    cdw_po: str
    babcock_contract: int


async def load_procurement(
    conn: asyncpg.Connection, actor: Actor, size: DemoSize = FULL
) -> Procurement:
    """Suppliers, contracts with their recurring charges, models and purchase orders."""
    ins = _insert_returning_id
    vodafone = await ins(conn, actor, "supplier", "supplier", name="Vodafone")
    cdw = await ins(conn, actor, "supplier", "supplier", name="CDW")
    babcock = await ins(conn, actor, "supplier", "supplier", name="Babcock")
    d = dt.date
    handsets = await ins(
        conn,
        actor,
        "contract",
        "contract",
        reference=MARKER_CONTRACT,
        supplier_id=vodafone,
        kind="handset_supply",
        title="Smartphone handsets and support",
        starts_on=d(2021, 4, 1),
        ends_on=d(2026, 3, 31),
        value_cap=Decimal("15000000.00"),
    )
    airtime = await ins(
        conn,
        actor,
        "contract",
        "contract",
        reference="VF-AIRTIME-2021",
        supplier_id=vodafone,
        kind="airtime",
        title="Mobile airtime (re-procuring)",
        starts_on=d(2021, 4, 1),
        ends_on=d(2027, 3, 31),
    )
    framework = await ins(
        conn,
        actor,
        "contract",
        "contract",
        reference="CDW-RF-2020",
        supplier_id=cdw,
        kind="reseller_framework",
        title="IT reseller framework",
        starts_on=d(2020, 9, 1),
        ends_on=d(2027, 8, 31),
        value_cap=Decimal("5000000.00"),
    )
    install = await ins(
        conn,
        actor,
        "contract",
        "contract",
        reference="BAB-IVMA-2021",
        supplier_id=babcock,
        kind="installation",
        title="IVMA vehicle installation",
        starts_on=d(2021, 6, 1),
        ends_on=d(2026, 5, 31),
    )
    licences = await ins(
        conn,
        actor,
        "contract",
        "contract",
        reference="CDW-NETMOTION-2021",
        supplier_id=cdw,
        kind="licence",
        title="NetMotion Mobility licences",
        starts_on=d(2021, 10, 1),
        ends_on=d(2026, 9, 30),
    )
    for contract_id, applies_to, category, amount, period, what in [
        (airtime, "sim", None, "5.50", "month", "airtime per active SIM"),
        (handsets, "device", "smartphone", "1.25", "month", "handset support per device"),
        (install, "device", "ivma_tablet", "45.00", "year", "IVMA maintenance per vehicle"),
        (licences, "licence_seat", None, "18.00", "year", "NetMotion support per seat"),
    ]:
        await ins(
            conn,
            actor,
            "contract_charge",
            "contract_charge",
            contract_id=contract_id,
            description=what,
            applies_to=applies_to,
            category=category,
            unit_amount=Decimal(amount),
            period=period,
        )

    phone = await ins(
        conn,
        actor,
        "device_model",
        "device_model",
        manufacturer="Samsung",
        model_name="Galaxy A32 4G 128GB",
        category="smartphone",
        lifecycle_months=36,
        replacement_cost=Decimal("300.00"),
    )
    tablet = await ins(
        conn,
        actor,
        "device_model",
        "device_model",
        manufacturer="Panasonic",
        model_name="Toughpad FZ-L1",
        category="ivma_tablet",
        lifecycle_months=60,
        replacement_cost=Decimal("689.00"),
    )
    dock = await ins(
        conn,
        actor,
        "device_model",
        "device_model",
        manufacturer="Havis",
        model_name="DS-PAN-1111 dock",
        category="vehicle_dock",
        lifecycle_months=84,
        replacement_cost=Decimal("312.50"),
    )
    for model_id, part in [
        (phone, "SM-A325FZKGEUB"),
        (tablet, "FZ-L1AHAABVB"),
        (dock, "DS-PAN-1111"),
    ]:
        await ins(
            conn,
            actor,
            "model_part_number",
            "model_part_number",
            model_id=model_id,
            part_number=part,
        )

    async def po(
        number: str, contract_id: int, raised: dt.date, lines: list[tuple[int, int, str]]
    ) -> str:
        po_id = await ins(
            conn,
            actor,
            "purchase_order",
            "purchase_order",
            number=number,
            contract_id=contract_id,
            raised_on=raised,
            status="open",
        )
        for model_id, quantity, cost in lines:
            await ins(
                conn,
                actor,
                "purchase_order_line",
                "purchase_order_line",
                purchase_order_id=po_id,
                model_id=model_id,
                quantity=quantity,
                unit_cost=Decimal(cost),
            )
        return number

    return Procurement(
        handset_model=phone,
        tablet_model=tablet,
        dock_model=dock,
        handset_po_2021=await po(
            "4500051001", handsets, d(2021, 4, 20), [(phone, size.handsets_2021, "289.00")]
        ),
        handset_po_2022=await po(
            "4500071322", handsets, d(2022, 4, 25), [(phone, size.handsets_2022, "289.00")]
        ),
        cdw_po=await po(
            "4500061069",
            framework,
            d(2021, 9, 1),
            [(tablet, size.tablets, "689.00"), (dock, size.vehicles, "312.50")],
        ),
        babcock_contract=install,
    )


def vodafone_file(first: int, count: int, po_number: str, despatched: dt.date) -> bytes:
    """A vodafone-despatch CSV for ``count`` handsets numbered from ``first``."""
    lines = [
        "Despatch Date,Vodafone Order No,Customer PO,Delivery Note,Product Code,"
        "Product Description,IMEI,Serial Number,SIM ICCID,MSISDN,Quantity"
    ]
    when = despatched.strftime("%d/%m/%Y")
    for n in range(first, first + count):
        lines.append(
            f"{when},VF-ORD-{880000 + n // 1000},{po_number},DN{700000 + n // 500},"
            f"SM-A325FZKGEUB,Samsung Galaxy A32 4G 128GB Awesome Black,{_imei(n)},"
            f"R58D{n:07d},{_iccid(n)},07956 {n:06d},1"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def cdw_file(po_number: str, shipped: dt.date, size: DemoSize = FULL) -> bytes:
    """A cdw-asn CSV: the IVMA tablets, their docks and the NetMotion seats."""
    lines = [
        "CDW Order #,Customer PO #,Ship Date,Manufacturer,Mfr Part #,CDW Part #,"
        "Description,Serial #,Qty Shipped,Unit Price (GBP),Licence Key"
    ]
    when = shipped.strftime("%d/%m/%Y")
    for n in range(size.tablets):
        lines.append(
            f"CDW5100000,{po_number},{when},Panasonic,FZ-L1AHAABVB,6600000,"
            f"Panasonic Toughpad FZ-L1 7in Android,PFD{n:06d}X,1,£689.00,"
        )
    for n in range(size.vehicles):
        lines.append(
            f"CDW5100001,{po_number},{when},Havis,DS-PAN-1111,6600001,"
            f"Havis docking station for FZ-L1,DKD{n:06d},1,£312.50,"
        )
    lines.append(
        f"CDW5199999,{po_number},{when},Absolute,NM-MOB-STD,7700001,"
        f"NetMotion Mobility Standard licence,,{size.netmotion_seats},£41.00,{NETMOTION_KEY}"
    )
    return ("\r\n".join(lines) + "\r\n").encode()


def babcock_file(vehicles: list[tuple[str, str]]) -> bytes:
    """A babcock-install CSV fitting tablet n and dock n into vehicle n during 2021/22."""
    lines = [
        "Job Reference,Completion Date,Fleet Number,VRM,Vehicle,Workshop,Tablet Serial,"
        "Dock Serial,Engineer ID,Job Status,Comments"
    ]
    for n, ((fleet, vrm), done) in enumerate(
        zip(
            vehicles,
            _spread(dt.date(2021, 12, 1), dt.date(2022, 3, 25), len(vehicles)),
            strict=True,
        )
    ):
        lines.append(
            f"BAB-IVMA-{20000 + n},{done.strftime('%d/%m/%Y')},{fleet},{vrm},"
            f"BMW 330e Touring IRV,Babcock Park Royal,PFD{n:06d}X,DKD{n:06d},"
            f"E{1000 + n % 40},Completed,"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


async def issue_handsets(
    conn: asyncpg.Connection,
    actor: Actor,
    model_id: int,
    po_number: str,
    start: dt.date,
    end: dt.date,
) -> int:
    """Deploy the handsets delivered on ``po_number`` to officers and staff who hold
    none, in service on dates spread across ``start``..``end``, set-based."""
    rows = await conn.fetch(
        """
        WITH phones AS (
            SELECT a.id, a.location_id, row_number() OVER (ORDER BY a.id) AS n,
                   count(*) OVER () AS total
            FROM asset a JOIN purchase_order po ON po.id = a.purchase_order_id
            WHERE po.number = $1 AND a.model_id = $2 AND a.status = 'in_stock'
        ), holders AS (
            -- In a fixed but mixed order: people were made unit by unit, and handing the
            -- first order's phones out by id would give them all to HQ staff.
            SELECT p.id, row_number() OVER (ORDER BY md5(p.employee_number), p.id) AS n
            FROM person p
            WHERE p.kind <> 'special_constable' AND p.active
              AND p.upn LIKE 'demo.%'
              AND NOT EXISTS (SELECT 1 FROM asset x WHERE x.person_id = p.id)
        ), pairs AS (
            SELECT phones.id AS asset_id, holders.id AS person_id, phones.location_id,
                   ($3::date + (((phones.n - 1) * ($4::date - $3::date))
                                / GREATEST(phones.total - 1, 1))::int) AS in_service
            FROM phones JOIN holders USING (n)
        ), moved AS (
            UPDATE asset a SET status = 'deployed', person_id = pairs.person_id,
                   location_id = NULL, in_service_on = pairs.in_service,
                   refresh_due_on = refresh_due(pairs.in_service, a.delivered_on,
                                                m.lifecycle_months, a.refresh_due_override),
                   version = a.version + 1, updated_at = now()
            FROM pairs, device_model m
            WHERE a.id = pairs.asset_id AND m.id = a.model_id
            RETURNING a.id, a.person_id, a.in_service_on, pairs.location_id AS old_location_id
        ), opened AS (
            INSERT INTO assignment (asset_id, person_id, started_at)
            SELECT id, person_id, in_service_on::timestamptz FROM moved
            RETURNING asset_id
        )
        SELECT moved.id, moved.person_id, moved.in_service_on, moved.old_location_id FROM moved
        """,
        po_number,
        model_id,
        start,
        end,
    )
    await audit.record_many(
        conn,
        actor,
        (
            audit.EventRow(
                "asset",
                r["id"],
                "transition",
                {"status": "in_stock", "location_id": r["old_location_id"]},
                {
                    "status": "deployed",
                    "person_id": r["person_id"],
                    "in_service_on": r["in_service_on"],
                    "location_id": None,
                    "reason": "issued (demo)",
                },
            )
            for r in rows
        ),
    )
    return len(rows)


async def issue_spare_tablets(conn: asyncpg.Connection, actor: Actor, model_id: int) -> int:
    """The tablets no vehicle holds went for rebuild and were issued to specials."""
    rows = await conn.fetch(
        """
        WITH spare AS (
            SELECT a.id, a.location_id, row_number() OVER (ORDER BY a.id) AS n FROM asset a
            WHERE a.model_id = $1 AND a.status = 'in_stock'
        ), specials AS (
            SELECT p.id, row_number() OVER (ORDER BY p.id) AS n FROM person p
            WHERE p.kind = 'special_constable' AND p.upn LIKE 'demo.%'
              AND NOT EXISTS (SELECT 1 FROM asset x WHERE x.person_id = p.id)
        ), moved AS (
            UPDATE asset a SET status = 'deployed', person_id = specials.id,
                   location_id = NULL, in_service_on = DATE '2023-05-02',
                   refresh_due_on = refresh_due(DATE '2023-05-02', a.delivered_on,
                                                m.lifecycle_months, a.refresh_due_override),
                   version = a.version + 1, updated_at = now()
            FROM spare JOIN specials USING (n), device_model m
            WHERE a.id = spare.id AND m.id = a.model_id
            RETURNING a.id, a.person_id, spare.location_id AS old_location_id
        ), opened AS (
            INSERT INTO assignment (asset_id, person_id, started_at)
            SELECT id, person_id, TIMESTAMPTZ '2023-05-02' FROM moved RETURNING asset_id
        )
        SELECT id, person_id, old_location_id FROM moved
        """,
        model_id,
    )
    events: list[audit.EventRow] = []
    for r in rows:
        events.append(
            audit.EventRow(
                "asset",
                r["id"],
                "transition",
                {"status": "in_stock"},
                {"status": "rebuild", "reason": "rebuilt to standard build"},
            )
        )
        events.append(
            audit.EventRow(
                "asset",
                r["id"],
                "transition",
                {"status": "rebuild"},
                {"status": "in_stock", "reason": "back from rebuild"},
            )
        )
        events.append(
            audit.EventRow(
                "asset",
                r["id"],
                "transition",
                {"status": "in_stock", "location_id": r["old_location_id"]},
                {
                    "status": "deployed",
                    "person_id": r["person_id"],
                    "location_id": None,
                    "reason": "issued to a special constable (demo)",
                },
            )
        )
    await audit.record_many(conn, actor, events)
    return len(rows)


async def assign_netmotion(conn: asyncpg.Connection, actor: Actor) -> int:
    """The NetMotion pool came in on the CDW delivery; it belongs to the licence
    contract (whose support charge finance forecasts), and each tablet fitted in
    a vehicle holds a seat."""
    pool = await conn.fetchrow(
        "SELECT p.id, p.contract_id, p.seats, c.id AS licence_contract FROM licence_pool p,"
        " contract c WHERE p.licence_key = $1 AND c.reference = 'CDW-NETMOTION-2021'",
        NETMOTION_KEY,
    )
    if pool is None:
        return 0
    if pool["contract_id"] != pool["licence_contract"]:
        await conn.execute(
            "UPDATE licence_pool SET contract_id = $2, version = version + 1, updated_at = now()"
            " WHERE id = $1",
            pool["id"],
            pool["licence_contract"],
        )
        await audit.record(
            conn,
            actor,
            "licence_pool",
            pool["id"],
            "updated",
            before={"contract_id": pool["contract_id"]},
            after={"contract_id": pool["licence_contract"]},
        )
    added = await conn.fetch(
        """
        INSERT INTO licence_seat (pool_id, asset_id)
        SELECT $2, i.tablet_id FROM install i
        WHERE i.removed_on IS NULL AND i.job_reference LIKE 'BAB-IVMA-%'
          AND NOT EXISTS (SELECT 1 FROM licence_seat s
                          WHERE s.pool_id = $2 AND s.asset_id = i.tablet_id)
        ORDER BY i.id
        LIMIT GREATEST($1::int - (SELECT count(*) FROM licence_seat WHERE pool_id = $2), 0)
        RETURNING asset_id
        """,
        pool["seats"],
        pool["id"],
    )
    return await audit.record_many(
        conn,
        actor,
        (
            audit.EventRow(
                "licence_pool", pool["id"], "seat_assigned", None, {"asset_id": r["asset_id"]}
            )
            for r in added
        ),
    )


async def _procurement(conn: asyncpg.Connection) -> Procurement:
    row = await conn.fetchrow(
        """
        SELECT (SELECT model_id FROM model_part_number WHERE part_number = 'SM-A325FZKGEUB') AS p,
               (SELECT model_id FROM model_part_number WHERE part_number = 'FZ-L1AHAABVB') AS t,
               (SELECT model_id FROM model_part_number WHERE part_number = 'DS-PAN-1111') AS d,
               (SELECT id FROM contract WHERE reference = 'BAB-IVMA-2021') AS b
        """
    )
    assert row is not None
    return Procurement(
        row["p"], row["t"], row["d"], "4500051001", "4500071322", "4500061069", row["b"]
    )


async def load_demo(
    actor: Actor, progress: Progress | None = None, size: DemoSize = FULL
) -> DemoSummary:
    """Load the demo fleet; running it again adds nothing (each step is idempotent)."""
    from db.engine import connection, transaction
    from fleetsvc.imports import run

    say = progress or (lambda _msg: None)
    summary = DemoSummary()
    async with transaction() as conn:
        if await already_loaded(conn):
            summary.already_loaded = True
            proc = await _procurement(conn)
        else:
            say("business units, people and vehicles")
            summary.counts.update(await load_reference_data(conn, actor, size))
            say("suppliers, contracts, models and purchase orders")
            proc = await load_procurement(conn, actor, size)
        fleet = [
            (r["fleet_number"], r["vrm"])
            for r in await conn.fetch(
                "SELECT fleet_number, vrm FROM vehicle WHERE fleet_number LIKE 'DV%'"
                " ORDER BY fleet_number LIMIT $1",
                size.vehicles,
            )
        ]

    files = [
        (
            "vodafone-despatch-2021.csv",
            "vodafone-despatch",
            vodafone_file(0, size.handsets_2021, proc.handset_po_2021, dt.date(2021, 6, 14)),
        ),
        (
            "vodafone-despatch-2022.csv",
            "vodafone-despatch",
            vodafone_file(
                size.handsets_2021, size.handsets_2022, proc.handset_po_2022, dt.date(2022, 6, 13)
            ),
        ),
        ("cdw-asn-2021.csv", "cdw-asn", cdw_file(proc.cdw_po, dt.date(2021, 11, 22), size)),
        ("babcock-install-2021.csv", "babcock-install", babcock_file(fleet)),
    ]
    with tempfile.TemporaryDirectory(prefix="fleetsvc-demo-") as tmp:
        for name, profile, content in files:
            async with connection() as conn:
                done = await conn.fetchval(
                    "SELECT id FROM delivery_import WHERE sha256 = $1 AND status = 'committed'",
                    hashlib.sha256(content).hexdigest(),
                )
            if done:
                summary.counts[name] = 0  # committed by an earlier run
                continue
            say(f"delivery import {name}")
            path = Path(tmp) / name
            path.write_bytes(content)
            result = await run.run_import(
                actor, path=path, file_name=name, profile_name=profile, mode="commit"
            )
            summary.counts[name] = result.tally().new

    async with transaction() as conn:
        say("issuing handsets")
        # The people and assets were bulk-loaded moments ago: without statistics the planner
        # pairs phones with holders by nested loop (40,000 x 43,000 rows, minutes), or not,
        # depending on whether autovacuum has been by yet.
        await conn.execute("ANALYZE asset, person")
        summary.counts["handsets issued"] = await issue_handsets(
            conn,
            actor,
            proc.handset_model,
            proc.handset_po_2021,
            dt.date(2021, 7, 1),
            dt.date(2022, 3, 31),
        )
        summary.counts["handsets issued"] += await issue_handsets(
            conn,
            actor,
            proc.handset_model,
            proc.handset_po_2022,
            dt.date(2022, 7, 1),
            dt.date(2023, 3, 31),
        )
        say("rebuilt tablets to special constables")
        summary.counts["tablets to specials"] = await issue_spare_tablets(
            conn, actor, proc.tablet_model
        )
        say("NetMotion seats for the fitted tablets")
        summary.counts["licence seats assigned"] = await assign_netmotion(conn, actor)
    async with connection() as conn:
        summary.counts["assets in the register"] = int(
            await conn.fetchval("SELECT count(*) FROM asset")
        )
    return summary
