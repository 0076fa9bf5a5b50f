"""Checks the register's services share: every failed rule of a request collected at
once (``Problems``), text, money, dates, vocabulary choices, references to other
records (one at a time, or a batch's in one query), values a batch gives twice, and
literal search patterns.

Money arrives over the API as a decimal string (``"289.00"``) and is parsed
exactly. The write helpers are in ``fleetsvc.records``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

import asyncpg
import msgspec

from fleetsvc.errors import FieldProblem, ValidationFailed, a_or_an
from fleetsvc.records import MAX_ID
from fleetsvc.vocabulary import documented
from importers.fields import (
    CONTROL_CHARACTERS,
    MAX_YEAR,
    MIN_YEAR,
    FieldError,
    clean_text,
    register_date,
)

R = TypeVar("R")
# Pounds as the register keeps them: numeric(12, 2), so at most 10 digits before the point
# (a contract's value cap is numeric(14, 2): 12).
MONEY_DIGITS = 10
_MONEY = re.compile(r"([0-9]{1,12})(\.[0-9]{1,2})?")
_PENNY = Decimal("0.01")


class Problems:
    """Collects every failed rule of a request, so the caller sees them all at once."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldProblem(field, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


def money(
    problems: Problems, field: str, value: str | None, *, digits: int = MONEY_DIGITS
) -> Decimal | None:
    """A GBP amount from a decimal string such as ``"289.00"``, at most ``digits`` digits
    before the point (the column's); None stays None."""
    if value is None:
        return None
    text = value.strip()
    found = _MONEY.fullmatch(text)
    if found is not None and len(found[1]) > digits:
        most = f"£{int('9' * digits):,}.99"
        problems.add(field, f"{field.rsplit('.', 1)[-1]} must be at most {most}")
        return None
    if found is None:
        problems.add(
            field,
            f"{field.rsplit('.', 1)[-1]} must be an amount in pounds with at most two decimal"
            ' places, not negative, written as a string such as "289.00"',
        )
        return None
    try:
        return Decimal(text).quantize(_PENNY)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        problems.add(field, "is not an amount")
        return None


def day(problems: Problems, field: str, value: dt.date | None) -> None:
    """A date the register holds (``importers.fields.register_date``), else a problem."""
    if value is None:
        return
    try:
        register_date(value)
    except FieldError as exc:
        problems.add(field, exc.message)


# --- the rules in the OpenAPI document -------------------------------------------------------
# A field's rule is checked by the domain, with its message; these state the same rule in
# the document (``msgspec.Meta``'s extra schema, which Litestar copies and msgspec ignores),
# so a client generated from it sends only values we accept.


def _ranges(codes: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in codes:
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


def _class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# What str.strip() removes (all in the Basic Multilingual Plane), and the control characters
# ``text`` refuses, as \uXXXX ranges: read alike by Python's re, ECMA-262 and Rust's regex,
# which differ on what \s means.
_SPACE = _class(_ranges(c for c in range(0x10000) if chr(c).isspace()))
SPACE = f"[{_SPACE}]"
SPACE_CHARACTERS = _SPACE  # a character class's contents, to combine
_CONTROL = _class([(0x00, 0x1F), (0x7F, 0x9F)])
CONTROL = _CONTROL
# importers.fields.clean_text's: a tab is allowed, bidi controls are not.
_CELL_CONTROL = CONTROL_CHARACTERS.removeprefix("[").removesuffix("]")


def name_pattern() -> str:
    """A pattern for a name of spaces and visible characters, not spaces only (a token's
    name): no control character and no space but U+0020. ``str.isprintable()`` refuses a
    few more (private-use and unassigned characters, format controls): a pattern of all of
    them is 20 KB, too large for a fuzzer to generate from, so the document states this."""
    visible = f"[^{_CONTROL}{_SPACE}]"
    return f"^\\u0020*{visible}(?:\\u0020*{visible})*\\u0020*$"


def text_pattern(*, required: bool = True, control: str = _CONTROL) -> str:
    """``text``'s rule as a pattern: once trimmed, not empty (when required) and free of
    ``control`` characters (a character class's contents)."""
    edge = f"[^{control}{_SPACE}]"  # the first and last character once trimmed
    trimmed = f"{edge}(?:[^{control}]*{edge})?"
    body = trimmed if required else f"(?:{trimmed})?"
    return f"^{SPACE}*{body}{SPACE}*$"


def text_rule(max_len: int, *, required: bool = True) -> dict[str, Any]:
    """``text``'s rule as JSON Schema keywords (a query parameter's ``schema_extra``)."""
    return {"maxLength": max_len, "pattern": text_pattern(required=required)}


def documented_text(max_len: int, *, required: bool = True) -> msgspec.Meta:
    """``text``'s rule for a Struct field: ``Annotated[str, documented_text(200)]``."""
    return documented(**text_rule(max_len, required=required))


def documented_cell_text(max_len: int, *, required: bool = True) -> msgspec.Meta:
    """``cell_text``'s rule for a Struct field (a tab allowed)."""
    pattern = text_pattern(required=required, control=_CELL_CONTROL)
    return documented(maxLength=max_len, pattern=pattern)


def cell_text(value: str, max_len: int) -> str:
    """``importers.fields.clean_text`` for a request's field: within ``max_len`` characters
    as sent, spaces around included (``documented_cell_text``'s maxLength), then cleaned.

    A file's cell is counted once trimmed; a request's field cannot be, as the document
    would have to state it: a pattern bounding the trimmed length of 10,000 characters is
    too large for Rust's regex (schemathesis validates with it), and clean_text also takes
    off an export's apostrophe. make fuzz sent 65 NELs as a delivery_ref (maxLength 64),
    and the service took them as an empty one."""
    if len(value) > max_len:
        raise FieldError(f"text is {len(value):,} characters; the limit is {max_len:,}")
    return clean_text(value, max_len)


def _year_pattern(first: int, last: int) -> str:
    """A pattern for the years ``first`` to ``last`` (four digits each)."""
    return "(?:" + "|".join(str(y) for y in range(first, last + 1)) + ")"


# A date ``day`` accepts (importers.fields.register_date): its year, as a pattern beside
# the date's format.
REGISTER_DATE = documented(pattern=f"^{_year_pattern(MIN_YEAR, MAX_YEAR - 1)}-")


def money_pattern(digits: int = MONEY_DIGITS) -> str:
    """A GBP amount as ``money`` reads it (the document's pattern)."""
    return f"^{SPACE}*[0-9]{{1,{digits}}}(?:\\.[0-9]{{1,2}})?{SPACE}*$"


# Struct fields that ``money`` and ``day`` check.
Money = Annotated[str, documented(pattern=money_pattern())]
RegisterDay = Annotated[dt.date, REGISTER_DATE]


def text(
    problems: Problems,
    field: str,
    value: str,
    *,
    max_len: int,
    required: bool = True,
) -> str:
    """Trimmed text within ``max_len`` characters as sent; no control characters
    (``documented_text`` states the same rule in the OpenAPI document)."""
    out = value.strip()
    if required and not out:
        problems.add(field, f"{field} must not be empty")
    elif len(value) > max_len:
        problems.add(field, f"{field} must be at most {max_len} characters")
    elif any(ord(c) < 32 or 127 <= ord(c) < 160 for c in out):
        problems.add(field, f"{field} must not contain control characters")
    return out


def choice(problems: Problems, field: str, value: str, options: Iterable[str]) -> str:
    allowed = tuple(options)
    if value not in allowed:
        problems.add(field, f"{field} must be one of: {', '.join(allowed)}")
    return value


def filter_choice(field: str, value: str, options: Iterable[str]) -> str:
    """A list filter's value from a fixed vocabulary: an unknown one is a 422 naming the
    accepted values, not an empty page (which would read as "there are none")."""
    p = Problems()
    choice(p, field, value, options)
    p.raise_if_any()
    return value


async def existing_id(
    conn: asyncpg.Connection,
    problems: Problems,
    field: str,
    table: str,
    label: str,
    value: int | None,
) -> int | None:
    """A reference to another record must name one that exists (else 422 naming it)."""
    if value is None:
        return None
    if not 1 <= value <= MAX_ID or not await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)", value
    ):
        problems.add(field, f"no {label} with id {value}")
    return value


async def existing_ids(
    conn: asyncpg.Connection, table: str, values: Iterable[int | None]
) -> set[int]:
    """Which of ``values`` name a row of ``table``: one query for a whole batch of
    references, each then checked with ``known_id``."""
    wanted = sorted({v for v in values if v is not None and 1 <= v <= MAX_ID})
    if not wanted:
        return set()
    rows = await conn.fetch(f"SELECT id FROM {table} WHERE id = ANY($1::int[])", wanted)
    return {r["id"] for r in rows}


def known_id(
    problems: Problems, field: str, label: str, value: int | None, known: Container[int]
) -> int | None:
    """``existing_id`` against the ids ``existing_ids`` found (same message)."""
    if value is not None and value not in known:
        problems.add(field, f"no {label} with id {value}")
    return value


def check_each(
    problems: Problems, at: str, rows: Sequence[R], check: Callable[[Problems, R], object]
) -> None:
    """Run one item's ``check`` on every item of a batch; each item's problems are filed
    under ``at.<index>.`` (``people.3.upn``) with the message one item would get."""
    for i, row in enumerate(rows):
        first = len(problems.items)
        check(problems, row)
        for k in range(first, len(problems.items)):
            found = problems.items[k]
            problems.items[k] = FieldProblem(f"{at}.{i}.{found.field}", found.message)


def given_once(
    problems: Problems, rows: Sequence[Mapping[str, object]], at: str, fields: Sequence[str]
) -> None:
    """A unique field given twice in one batch (``at.3.field``) is the caller's mistake,
    named as such: the database would only say that the second one already exists."""
    for field in fields:
        first: dict[object, int] = {}
        for i, row in enumerate(rows):
            value = row[field]
            if value is None or value == "":
                continue
            if value in first:
                problems.add(
                    f"{at}.{i}.{field}", f"{field} {value} is also given at {at}.{first[value]}"
                )
            else:
                first[value] = i


async def contract_of_kind(
    conn: asyncpg.Connection, problems: Problems, field: str, contract_id: int | None, kind: str
) -> None:
    """A reference to a contract of one kind (a SIM's airtime contract, an install's
    installation contract): one that exists, and is of that kind."""
    if contract_id is None:
        return
    found = await conn.fetchval("SELECT kind FROM contract WHERE id = $1", contract_id)
    if found is None:
        problems.add(field, f"no contract with id {contract_id}")
    elif found != kind:
        problems.add(
            field,
            f"contract {contract_id} is {a_or_an(found)} contract, not {a_or_an(kind)} one",
        )


def like_pattern(q: str, *, prefix: bool = False) -> str:
    """An ILIKE pattern matching ``q`` literally (``%`` and ``_`` in input are not wildcards)."""
    escaped = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix else f"%{escaped}%"
