"""The demo's reference records: business units, people, vehicles and device models,
created through the domain's own checks (people and vehicles with its bulk paths).

Beside a register's own records, never over them: a business unit or a device model the
register has already (by code, by part number) is used as it is, unchanged; a person or
vehicle whose employee number, UPN, fleet number or registration is taken is left out, so
the demo never issues a device to, or fits kit in, anything it did not create.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from fleetsvc.auth import Actor
from fleetsvc.business_units import BusinessUnitCreate, create_business_unit
from fleetsvc.demo import provenance
from fleetsvc.demo.shape import (
    BUSINESS_UNITS,
    FRONTLINE,
    HQ_UNITS,
    MODELS,
    SEED,
    SPECIALS_UNIT,
    DemoSize,
    ModelShape,
    fleet_number,
    vrm,
)
from fleetsvc.device_models import DeviceModelCreate, create_model
from fleetsvc.people import PersonCreate, create_people
from fleetsvc.vehicles import VehicleCreate, create_vehicles
from fleetsvc.vocabulary import PersonKind


@dataclass
class Reference:
    """What the reference step made (and used), by kind."""

    business_units: int = 0
    people: int = 0
    vehicles: int = 0
    device_models: int = 0
    left_out: int = 0  # people and vehicles whose identifiers the register already uses
    models: dict[str, int] = field(default_factory=dict)  # by part number, made or found


async def business_units(conn: asyncpg.Connection, actor: Actor) -> tuple[dict[str, int], int]:
    """The demo's units by code (the register's own where it has the code); and how many
    the demo created."""
    rows = await conn.fetch(
        "SELECT id, code FROM business_unit WHERE code = ANY($1::text[])",
        [code for code, _ in BUSINESS_UNITS],
    )
    units = {r["code"]: r["id"] for r in rows}
    made = []
    for code, name in BUSINESS_UNITS:
        if code not in units:
            unit = await create_business_unit(conn, actor, BusinessUnitCreate(code=code, name=name))
            units[code] = unit.id
            made.append(unit.id)
    await provenance.remember(conn, "business_unit", made)
    return units, len(made)


def _people(size: DemoSize, units: dict[str, int], rng: random.Random) -> list[PersonCreate]:
    people = []
    for n in range(size.people):
        if n < size.specials:
            kind, unit = PersonKind.SPECIAL_CONSTABLE.value, units[SPECIALS_UNIT]
        elif n < size.specials + size.staff:
            kind, unit = PersonKind.STAFF.value, units[rng.choice(HQ_UNITS)]
        else:
            kind, unit = PersonKind.OFFICER.value, units[rng.choice(FRONTLINE)]
        people.append(
            PersonCreate(
                employee_number=f"D{n:07d}",
                upn=f"demo.user{n:06d}@police.example",
                display_name=f"Demo User {n:06d}",
                business_unit_id=unit,
                kind=kind,
            )
        )
    return people


async def people(
    conn: asyncpg.Connection,
    actor: Actor,
    size: DemoSize,
    units: dict[str, int],
    rng: random.Random,
) -> tuple[int, int]:
    """Create the demo's people (``create_people``): made, and left out as taken."""
    wanted = _people(size, units, rng)
    taken = await conn.fetch(
        "SELECT employee_number, upn FROM person"
        " WHERE employee_number = ANY($1::text[]) OR upn = ANY($2::text[])",
        [p.employee_number for p in wanted],
        [p.upn for p in wanted],
    )
    used = {r["employee_number"] for r in taken} | {r["upn"] for r in taken}
    free = [p for p in wanted if p.employee_number not in used and p.upn not in used]
    ids = await create_people(conn, actor, free)
    await provenance.remember(conn, "person", ids)
    return len(ids), len(wanted) - len(free)


async def vehicles(
    conn: asyncpg.Connection,
    actor: Actor,
    size: DemoSize,
    units: dict[str, int],
    rng: random.Random,
) -> tuple[int, int]:
    """Create the demo's response vehicles (``create_vehicles``): made, and left out."""
    wanted = [
        VehicleCreate(
            fleet_number=fleet_number(n),
            vrm=vrm(n),
            description="BMW 330e Touring IRV",
            business_unit_id=units[rng.choice(FRONTLINE)],
        )
        for n in range(size.vehicles)
    ]
    taken = await conn.fetch(
        "SELECT fleet_number, vrm FROM vehicle"
        " WHERE fleet_number = ANY($1::text[]) OR vrm = ANY($2::text[])",
        [v.fleet_number for v in wanted],
        [v.vrm for v in wanted],
    )
    used = {r["fleet_number"] for r in taken} | {r["vrm"] for r in taken}
    free = [v for v in wanted if v.fleet_number not in used and v.vrm not in used]
    ids = await create_vehicles(conn, actor, free)
    await provenance.remember(conn, "vehicle", ids)
    return len(ids), len(wanted) - len(free)


async def device_models(
    conn: asyncpg.Connection, actor: Actor, shapes: Sequence[ModelShape] = MODELS
) -> tuple[dict[str, int], int]:
    """The models by part number: the register's own model with that part number when it
    has one (the supplier files name models by part number), else one the demo creates."""
    rows = await conn.fetch(
        "SELECT part_number, model_id FROM model_part_number WHERE part_number = ANY($1::text[])",
        [m.part_number for m in shapes],
    )
    models = {r["part_number"]: r["model_id"] for r in rows}
    made = []
    for m in shapes:
        if m.part_number in models:
            continue
        model = await create_model(
            conn,
            actor,
            DeviceModelCreate(
                manufacturer=m.manufacturer,
                model_name=m.model_name,
                category=m.category,
                lifecycle_months=m.lifecycle_months,
                replacement_cost=m.replacement_cost,
                part_numbers=[m.part_number],
            ),
        )
        models[m.part_number] = model.id
        made.append(model.id)
    await provenance.remember(conn, "device_model", made)
    return models, len(made)


async def load_reference(conn: asyncpg.Connection, actor: Actor, size: DemoSize) -> Reference:
    """Business units, people, vehicles and device models, in the caller's transaction."""
    rng = random.Random(SEED)  # noqa: S311 - repeatable demo data, not secrets
    out = Reference()
    units, out.business_units = await business_units(conn, actor)
    out.people, people_out = await people(conn, actor, size, units, rng)
    out.vehicles, vehicles_out = await vehicles(conn, actor, size, units, rng)
    out.models, out.device_models = await device_models(conn, actor)
    out.left_out = people_out + vehicles_out
    return out
