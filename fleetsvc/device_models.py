"""Device models: what a device is, how long it lasts and what it costs to replace, with
the part numbers and description aliases suppliers use for it.

A model's part numbers and aliases are checked and kept unique here (``_check``,
``_set_lists``); importers resolve a supplier's row to a model here
(``resolve_model`` / ``resolve_models``). A change to a model's lifecycle moves the
refresh date of every asset of that model, in one set-based statement with its events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import (
    Money,
    Problems,
    choice,
    documented_text,
    filter_choice,
    like_pattern,
    money,
    text,
    text_rule,
)
from fleetsvc.conflicts import ExplainClash
from fleetsvc.errors import Conflict, NotFound
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    changes_of,
    check_id,
    insert_row,
    list_page,
    lock_current,
    struct_of,
    value_or_none,
    write_version,
)
from fleetsvc.vocabulary import Category, documented, one_of

TABLE = "device_model"
ENTITY = "device_model"
MAX_LIST = 100  # part numbers or aliases on one model
LISTS = ("part_numbers", "aliases")  # kept in their own tables, not columns of the model
_SPACES = re.compile(r"\s+")

# One model with its part numbers and aliases, as every read returns it.
SELECT = (
    "SELECT m.*,"
    " ARRAY(SELECT p.part_number FROM model_part_number p WHERE p.model_id = m.id"
    ' ORDER BY p.part_number COLLATE "C") AS part_numbers,'
    " ARRAY(SELECT a.description FROM model_alias a WHERE a.model_id = m.id"
    ' ORDER BY a.description COLLATE "C") AS aliases'
    " FROM device_model m"
)


class DeviceModel(msgspec.Struct):
    id: int
    manufacturer: str
    model_name: str
    category: Annotated[str, one_of(Category)]
    lifecycle_months: int | None
    replacement_cost: Decimal | None
    part_numbers: list[str]
    aliases: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


Manufacturer = Annotated[str, documented_text(100)]
ModelName = Annotated[str, documented_text(200)]
LifecycleMonths = Annotated[int, documented(minimum=1, maximum=240)]
# Litestar drops an item's own Annotated rule: the list states it.
PartNumbers = Annotated[
    list[str], documented(maxItems=MAX_LIST, items={"type": "string", **text_rule(64)})
]
Aliases = Annotated[
    list[str], documented(maxItems=MAX_LIST, items={"type": "string", **text_rule(300)})
]


class DeviceModelCreate(msgspec.Struct, forbid_unknown_fields=True):
    manufacturer: Manufacturer
    model_name: ModelName
    category: Annotated[str, one_of(Category)]
    lifecycle_months: LifecycleMonths | None = None
    replacement_cost: Money | None = None
    part_numbers: PartNumbers = []
    aliases: Aliases = []


# A list, when given, replaces the whole list.
class DeviceModelUpdate(msgspec.Struct, forbid_unknown_fields=True):
    manufacturer: Manufacturer | msgspec.UnsetType = msgspec.UNSET
    model_name: ModelName | msgspec.UnsetType = msgspec.UNSET
    category: Annotated[str, one_of(Category)] | msgspec.UnsetType = msgspec.UNSET
    lifecycle_months: LifecycleMonths | msgspec.UnsetType | None = msgspec.UNSET
    replacement_cost: Money | msgspec.UnsetType | None = msgspec.UNSET
    part_numbers: PartNumbers | msgspec.UnsetType = msgspec.UNSET
    aliases: Aliases | msgspec.UnsetType = msgspec.UNSET


def part_number_key(value: str) -> str:
    """Part numbers are compared trimmed and upper-case (``sm-a325fzkgeub``)."""
    return value.strip().upper()


def alias_key(value: str) -> str:
    """Descriptions are compared lower-case and single-spaced."""
    return _SPACES.sub(" ", value).strip().lower()


def manufacturer_key(value: str) -> str:
    return _SPACES.sub(" ", value).strip().lower()


class _Checked(msgspec.Struct):
    """A model's fields as checked (for a change, those it sets): names tidied, the cost a
    Decimal, the part numbers and aliases as their keys, sorted."""

    manufacturer: str | msgspec.UnsetType = msgspec.UNSET
    model_name: str | msgspec.UnsetType = msgspec.UNSET
    category: str | msgspec.UnsetType = msgspec.UNSET
    lifecycle_months: int | msgspec.UnsetType | None = msgspec.UNSET
    replacement_cost: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    part_numbers: list[str] | msgspec.UnsetType = msgspec.UNSET
    aliases: list[str] | msgspec.UnsetType = msgspec.UNSET


def _check(data: DeviceModelCreate | DeviceModelUpdate) -> _Checked:
    p = Problems()
    out = _Checked()
    if isinstance(data.manufacturer, str):
        out.manufacturer = _SPACES.sub(" ", text(p, "manufacturer", data.manufacturer, max_len=100))
    if isinstance(data.model_name, str):
        out.model_name = _SPACES.sub(" ", text(p, "model_name", data.model_name, max_len=200))
    if isinstance(data.category, str):
        choice(p, "category", data.category, Category)
        out.category = data.category
    if not isinstance(data.lifecycle_months, msgspec.UnsetType):
        months = out.lifecycle_months = data.lifecycle_months
        if months is not None and not 1 <= months <= 240:
            p.add("lifecycle_months", "lifecycle_months must be from 1 to 240 (or null)")
    if not isinstance(data.replacement_cost, msgspec.UnsetType):
        out.replacement_cost = money(p, "replacement_cost", data.replacement_cost)
    if not isinstance(data.part_numbers, msgspec.UnsetType):
        out.part_numbers = _keys(p, "part_numbers", data.part_numbers, part_number_key, 64)
    if not isinstance(data.aliases, msgspec.UnsetType):
        out.aliases = _keys(p, "aliases", data.aliases, alias_key, 300)
    p.raise_if_any()
    return out


def _keys(
    p: Problems, name: str, given: Sequence[str], key: Callable[[str], str], max_len: int
) -> list[str]:
    """A list of part numbers or aliases as their keys, each once, sorted."""
    items: list[str] = []
    if len(given) > MAX_LIST:
        p.add(name, f"{name} may hold at most {MAX_LIST} entries")
    for i, raw in enumerate(given):
        item = key(text(p, f"{name}.{i}", raw, max_len=max_len))
        if item and item not in items:
            items.append(item)
    return sorted(items)


def _name_clash(manufacturer: str, model_name: str) -> ExplainClash:
    """The unique index on a model's name is on lower(...), so the generic conflict cannot
    name the row: this names it."""

    async def explain(
        conn: asyncpg.Connection, exc: asyncpg.UniqueViolationError
    ) -> Conflict | None:
        if exc.constraint_name != "device_model_name_uq":
            return None
        found = await conn.fetchval(
            "SELECT id FROM device_model WHERE lower(manufacturer) = lower($1)"
            " AND lower(model_name) = lower($2)",
            manufacturer,
            model_name,
        )
        return Conflict(
            f"a device model {manufacturer} {model_name} already exists"
            + (f" (id {found})" if found else ""),
            existing_id=found,
            field="model_name",
        )

    return explain


async def _set_lists(
    conn: asyncpg.Connection,
    model_id: int,
    manufacturer: str,
    part_numbers: Sequence[str] | None,
    aliases: Sequence[str] | None,
) -> None:
    """Replace the model's part numbers and/or aliases; one held by another model is a 409."""
    if part_numbers is not None:
        await _set_part_numbers(conn, model_id, part_numbers)
    if aliases is not None:
        await _set_aliases(conn, model_id, manufacturer_key(manufacturer), aliases)


async def _set_part_numbers(
    conn: asyncpg.Connection, model_id: int, part_numbers: Sequence[str]
) -> None:
    await conn.execute("DELETE FROM model_part_number WHERE model_id = $1", model_id)
    added = await conn.fetch(
        "INSERT INTO model_part_number (model_id, part_number)"
        " SELECT $1, unnest($2::text[]) ON CONFLICT (part_number) DO NOTHING"
        " RETURNING part_number",
        model_id,
        list(part_numbers),
    )
    taken = sorted(set(part_numbers) - {r["part_number"] for r in added})
    if taken:
        # A fresh statement, so a clash committed meanwhile by another request is seen.
        owner = await conn.fetchval(
            "SELECT model_id FROM model_part_number WHERE part_number = $1", taken[0]
        )
        raise Conflict(
            f"part number {taken[0]} already belongs to device model {owner}",
            existing_id=owner,
            field="part_numbers",
        )


async def _set_aliases(
    conn: asyncpg.Connection, model_id: int, maker: str, aliases: Sequence[str]
) -> None:
    await conn.execute("DELETE FROM model_alias WHERE model_id = $1", model_id)
    added = await conn.fetch(
        "INSERT INTO model_alias (model_id, manufacturer, description)"
        " SELECT $1, $2, unnest($3::text[])"
        " ON CONFLICT (manufacturer, description) DO NOTHING RETURNING description",
        model_id,
        maker,
        list(aliases),
    )
    taken = sorted(set(aliases) - {r["description"] for r in added})
    if taken:
        owner = await conn.fetchval(
            "SELECT model_id FROM model_alias WHERE manufacturer = $1 AND description = $2",
            maker,
            taken[0],
        )
        raise Conflict(
            f"the alias '{taken[0]}' already names device model {owner}",
            existing_id=owner,
            field="aliases",
        )


async def create_model(
    conn: asyncpg.Connection, actor: Actor, data: DeviceModelCreate
) -> DeviceModel:
    checked = changes_of(_check(data))
    part_numbers = checked.pop("part_numbers", [])
    aliases = checked.pop("aliases", [])
    row = await insert_row(
        conn, TABLE, checked, explain=_name_clash(checked["manufacturer"], checked["model_name"])
    )
    model_id: int = row["id"]
    await _set_lists(conn, model_id, checked["manufacturer"], part_numbers, aliases)
    await audit.record(
        conn,
        actor,
        ENTITY,
        model_id,
        "created",
        after={**checked, "part_numbers": part_numbers, "aliases": aliases},
    )
    return await get_model(conn, model_id)


async def get_model(conn: asyncpg.Connection, model_id: int) -> DeviceModel:
    check_id(ENTITY, model_id)
    row = await conn.fetchrow(f"{SELECT} WHERE m.id = $1", model_id)
    if row is None:
        raise NotFound(ENTITY, model_id)
    return struct_of(DeviceModel, row)


async def update_model(
    conn: asyncpg.Connection,
    actor: Actor,
    model_id: int,
    changes: DeviceModelUpdate,
    expected_version: int | None,
) -> DeviceModel:
    """Change a model; replace its part numbers or aliases; move its assets' refresh dates."""
    await lock_current(conn, TABLE, ENTITY, model_id, expected_version)
    current = await get_model(conn, model_id)
    changed = await _what_changes(conn, current, _check(changes))
    values = changes_of(changed)
    if not values:
        return current
    manufacturer = current.manufacturer
    if isinstance(changed.manufacturer, str):
        manufacturer = changed.manufacturer
    model_name = current.model_name
    if isinstance(changed.model_name, str):
        model_name = changed.model_name
    await write_version(
        conn,
        TABLE,
        model_id,
        {k: v for k, v in values.items() if k not in LISTS},
        explain=_name_clash(manufacturer, model_name),
    )
    await _set_lists(
        conn,
        model_id,
        manufacturer,
        value_or_none(changed.part_numbers),
        value_or_none(changed.aliases),
    )
    await audit.record(
        conn,
        actor,
        ENTITY,
        model_id,
        "updated",
        before={k: getattr(current, k) for k in values},
        after=values,
    )
    if "lifecycle_months" in values:
        await recompute_refresh_dates(conn, actor, model_id)
    return await get_model(conn, model_id)


async def _what_changes(
    conn: asyncpg.Connection, current: DeviceModel, checked: _Checked
) -> _Checked:
    """The checked values that differ from the model as it is (the others unset); a new
    manufacturer only for a model no asset is of."""
    changed = _Checked(**{k: v for k, v in changes_of(checked).items() if getattr(current, k) != v})
    if isinstance(changed.manufacturer, str) and manufacturer_key(
        changed.manufacturer
    ) != manufacturer_key(current.manufacturer):
        # Assets carry their maker (serial numbers are unique per maker): keep them true.
        held = await conn.fetchval("SELECT count(*) FROM asset WHERE model_id = $1", current.id)
        if held:
            raise Conflict(
                f"device model {current.id} has {held} assets, so its manufacturer cannot change"
                " (serial numbers are unique per manufacturer); create a new model instead",
                field="manufacturer",
            )
        # Aliases hang off the manufacturer: a new manufacturer re-files them under it.
        if isinstance(changed.aliases, msgspec.UnsetType):
            changed.aliases = list(current.aliases)
    return changed


async def recompute_refresh_dates(conn: asyncpg.Connection, actor: Actor, model_id: int) -> int:
    """Set every asset of the model to the refresh date its lifecycle now gives.

    One UPDATE for all of them (the database's ``refresh_due`` is the one
    definition); one COPY of events for the assets whose date moved.
    """
    rows = await conn.fetch(
        "UPDATE asset a SET refresh_due_on = refresh_due(a.in_service_on, a.delivered_on,"
        " m.lifecycle_months, a.refresh_due_override),"
        " version = a.version + 1, updated_at = now()"
        " FROM device_model m, asset old"
        " WHERE m.id = $1 AND a.model_id = m.id AND old.id = a.id"
        " AND a.refresh_due_on IS DISTINCT FROM refresh_due(a.in_service_on, a.delivered_on,"
        " m.lifecycle_months, a.refresh_due_override)"
        " RETURNING a.id, old.refresh_due_on AS before, a.refresh_due_on AS after",
        model_id,
    )
    return await audit.record_many(
        conn,
        actor,
        (
            audit.EventRow(
                entity="asset",
                entity_id=r["id"],
                action="refresh_recomputed",
                before={"refresh_due_on": r["before"]},
                after={"refresh_due_on": r["after"]},
            )
            for r in rows
        ),
    )


async def list_models(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    category: str | None = None,
    manufacturer: str | None = None,
    part_number: str | None = None,
    q: str | None = None,
) -> Page[DeviceModel]:
    f = Filters()
    if category is not None:
        f.add("m.category = {}", filter_choice("category", category, Category))
    if manufacturer is not None:
        f.add("lower(m.manufacturer) = {}", manufacturer_key(manufacturer))
    if part_number is not None:
        f.add(
            "m.id IN (SELECT model_id FROM model_part_number WHERE part_number = {})",
            part_number_key(part_number),
        )
    if q and q.strip():
        f.add(
            "(m.manufacturer ILIKE {0} OR m.model_name ILIKE {0}"
            " OR m.id IN (SELECT model_id FROM model_alias WHERE description ILIKE {0})"
            " OR m.id IN (SELECT model_id FROM model_part_number WHERE part_number LIKE {1}))",
            like_pattern(q),
            like_pattern(part_number_key(q), prefix=True),
        )
    found = await list_page(conn, SELECT, f, page, id_column="m.id")
    return Page([struct_of(DeviceModel, r) for r in found.items], found.next_cursor)


# --- resolving supplier rows to models -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelKey:
    """What a supplier's row says the item is."""

    part_number: str | None = None
    manufacturer: str | None = None
    description: str | None = None


async def resolve_model(
    conn: asyncpg.Connection,
    *,
    part_number: str | None,
    manufacturer: str | None,
    description: str | None,
) -> int | None:
    """The model a supplier's row names: by part number, else by manufacturer + alias
    (or the model's own name); None when nothing matches."""
    found = await resolve_models(conn, [ModelKey(part_number, manufacturer, description)])
    return found[0]


async def resolve_models(conn: asyncpg.Connection, keys: Sequence[ModelKey]) -> list[int | None]:
    """``resolve_model`` for many rows at once, in one query; results in the order given."""
    if not keys:
        return []
    parts = [part_number_key(k.part_number) if k.part_number else None for k in keys]
    makers = [manufacturer_key(k.manufacturer) if k.manufacturer else None for k in keys]
    descs = [alias_key(k.description) if k.description else None for k in keys]
    rows = await conn.fetch(
        "SELECT k.n, COALESCE("
        " (SELECT p.model_id FROM model_part_number p WHERE p.part_number = k.part_number),"
        " (SELECT a.model_id FROM model_alias a"
        "   WHERE a.manufacturer = k.manufacturer AND a.description = k.description),"
        " (SELECT min(m.id) FROM device_model m WHERE lower(m.manufacturer) = k.manufacturer"
        "   AND lower(m.model_name) = k.description)) AS model_id"
        " FROM unnest($1::text[], $2::text[], $3::text[])"
        "   WITH ORDINALITY AS k(part_number, manufacturer, description, n)"
        " ORDER BY k.n",
        parts,
        makers,
        descs,
    )
    return [r["model_id"] for r in rows]
