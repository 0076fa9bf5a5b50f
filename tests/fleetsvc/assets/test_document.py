"""The rules that derive the document's SQL from a Struct: PostgreSQL writes each kind of
field (instants with and without a fraction, money, dates, text, nulls, nested rows) as
msgspec writes the Struct, so a field added to ``Asset`` needs no SQL of its own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from db.engine import connection
from fleetsvc.assets.document import Asset, Money, _columns

UTC = dt.UTC


class Inner(msgspec.Struct):
    label: str
    seen_at: dt.datetime | None
    note: str | None  # no source and no table: NULL


class Kinds(msgspec.Struct):
    n: int
    at: dt.datetime
    maybe_at: dt.datetime | None
    cost: Money | None
    on: dt.date | None
    text: str
    renamed: str
    inner: Inner


ROW = (
    7,
    dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC),  # no fraction
    dt.datetime(2024, 5, 1, 10, 0, 0, 120, tzinfo=UTC),
    Decimal("1234567.5"),
    dt.date(2022, 11, 14),
    'quoted "text"\n\tback\\slash, café, \u2028',
    "from another column",
)
SOURCES = {"on": "x.on_", "renamed": "x.other", "inner": "inner_"}
SQL = f"""
SELECT row_to_json(doc) FROM (VALUES ($1::int, $2::timestamptz, $3::timestamptz,
    $4::numeric, $5::date, $6::text, $7::text)) AS x(n, at, maybe_at, cost, on_, text, other)
CROSS JOIN LATERAL (SELECT {_columns(Inner, {"label": "x.text", "seen_at": "x.at"})}) AS inner_
CROSS JOIN LATERAL (SELECT {_columns(Kinds, SOURCES, "x")}) AS doc
"""


async def test_each_kind_of_field_is_written_as_msgspec_writes_it(app: object) -> None:
    expected = Kinds(
        n=7,
        at=ROW[1],
        maybe_at=ROW[2],
        cost="1234567.50",
        on=ROW[4],
        text=ROW[5],
        renamed=ROW[6],
        inner=Inner(label=ROW[5], seen_at=ROW[1], note=None),
    )
    async with connection() as conn:
        written = await conn.fetchval(SQL, *ROW)
        nulls = await conn.fetchval(SQL, 7, ROW[1], None, None, None, "", "")
    assert written.encode() == msgspec.json.encode(expected)
    blank = Kinds(7, ROW[1], None, None, None, "", "", Inner("", ROW[1], None))
    assert nulls.encode() == msgspec.json.encode(blank)


def test_the_asset_document_has_the_structs_fields_in_order() -> None:
    select = _columns(Asset, {}, "a")
    names = [column.rsplit(" AS ", 1)[1] for column in select.split(",\n")]
    assert names == list(Asset.__struct_fields__)


def test_a_source_for_no_field_is_refused() -> None:
    with pytest.raises(AssertionError, match=r"Inner has no fields \['lable'\]"):
        _columns(Inner, {"lable": "x.text"})
