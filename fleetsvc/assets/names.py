"""What the devices pages name beside assets, each read in one query: the choices of the
list's filters (models, business units), and for one asset's page the reference of its
contract, the number of its purchase order, the people its moves issued it to, the
locations they kept it at, the users who made them, and the locations it may be moved to.

One query each because a page read is timed against the API's JSON for the same asset
(bench/pages.py): every round trip to PostgreSQL is a visible part of a page's cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import asyncpg
import msgspec

from fleetsvc.users import user_ref

# A select lists at most this many (models, units, locations: tens in a real force).
CHOICES_CAP: Final = 5_000

_FILTER_CHOICES = f"""
SELECT
  (SELECT coalesce(json_agg(json_build_array(id, label) ORDER BY sort_key, id), '[]')
     FROM (SELECT id, manufacturer || ' ' || model_name AS label,
                  lower(manufacturer || ' ' || model_name) AS sort_key
           FROM device_model ORDER BY sort_key LIMIT {CHOICES_CAP}) m)::text AS models,
  (SELECT coalesce(json_agg(json_build_array(code, code || ' · ' || name) ORDER BY code), '[]')
     FROM (SELECT code, name FROM business_unit ORDER BY code LIMIT {CHOICES_CAP}) b)::text
     AS units
"""

_ASSET_NAMES = f"""
SELECT
  (SELECT reference FROM contract WHERE id = $1) AS contract,
  (SELECT number FROM purchase_order WHERE id = $2) AS purchase_order,
  (SELECT coalesce(json_object_agg(id, display_name), '{{}}') FROM person
     WHERE id = ANY($3::int[]))::text AS people,
  (SELECT coalesce(json_object_agg(id, code), '{{}}') FROM location
     WHERE id = ANY($4::int[]))::text AS places,
  (SELECT coalesce(json_object_agg(id, email), '{{}}') FROM app_user
     WHERE id = ANY($5::int[]))::text AS users,
  CASE WHEN $6 THEN
    (SELECT coalesce(json_agg(json_build_array(id, code, name) ORDER BY code), '[]')
       FROM (SELECT id, code, name FROM location ORDER BY code LIMIT {CHOICES_CAP}) l)::text
  END AS stores
"""


@dataclass(frozen=True, slots=True)
class FilterChoices:
    models: list[tuple[int, str]]  # id, "Samsung Galaxy A32"
    business_units: list[tuple[str, str]]  # code, "BCU-N · North"


@dataclass(frozen=True, slots=True)
class Store:
    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class AssetNames:
    contract_reference: str | None = None
    order_number: str | None = None
    people: dict[int, str] = field(default_factory=dict)  # display name by person id
    places: dict[int, str] = field(default_factory=dict)  # location code by id
    users: dict[str, str] = field(default_factory=dict)  # e-mail by actor (``user:17``)
    stores: list[Store] = field(default_factory=list)  # every location, when asked for


async def filter_choices(conn: asyncpg.Connection) -> FilterChoices:
    row = await conn.fetchrow(_FILTER_CHOICES)
    assert row is not None
    return FilterChoices(
        models=[(int(i), str(label)) for i, label in msgspec.json.decode(row["models"])],
        business_units=[(str(c), str(label)) for c, label in msgspec.json.decode(row["units"])],
    )


def _user_ids(actors: Iterable[str]) -> list[int]:
    ids = {int(a[5:]) for a in actors if a.startswith("user:") and a[5:].isdigit()}
    return sorted(i for i in ids if i < 2**31)


async def asset_names(
    conn: asyncpg.Connection,
    *,
    contract_id: int | None,
    purchase_order_id: int | None,
    person_ids: Iterable[int] = (),
    location_ids: Iterable[int] = (),
    actors: Iterable[str] = (),
    with_stores: bool = False,
) -> AssetNames:
    row = await conn.fetchrow(
        _ASSET_NAMES,
        contract_id,
        purchase_order_id,
        sorted(set(person_ids)),
        sorted(set(location_ids)),
        _user_ids(actors),
        with_stores,
    )
    assert row is not None
    people = msgspec.json.decode(row["people"])
    places = msgspec.json.decode(row["places"])
    users = msgspec.json.decode(row["users"])
    stores = msgspec.json.decode(row["stores"]) if row["stores"] else []
    return AssetNames(
        contract_reference=row["contract"],
        order_number=row["purchase_order"],
        people={int(k): str(v) for k, v in people.items()},
        places={int(k): str(v) for k, v in places.items()},
        users={user_ref(int(k)): str(v) for k, v in users.items()},
        stores=[Store(int(i), str(c), str(n)) for i, c, n in stores],
    )
