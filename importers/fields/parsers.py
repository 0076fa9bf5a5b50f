"""The parsers by the names profiles give them (``parser = "imei"``), as the row parser
calls them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from importers.fields.amounts import parse_money, parse_quantity
from importers.fields.cells import CellValue
from importers.fields.dates import parse_date, parse_timestamp
from importers.fields.identifiers import (
    normalise_iccid,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    normalise_vrm,
)
from importers.fields.text import clean_text, clean_upper, normalise_upn, parse_choice

# A converter takes the cell as read (str from CSV; numbers or dates from XLSX), its text
# (cell_text, computed once by the caller) and the choices of an enum field, and returns the
# value with an optional warning.
Converter = Callable[[CellValue, str, Mapping[str, str]], tuple[object, str | None]]


def _text_input(parse: Callable[[str], object]) -> Converter:
    def convert(cell: CellValue, text: str, options: Mapping[str, str]) -> tuple[object, None]:
        return parse(text), None

    return convert


def _cell_input(parse: Callable[[CellValue], object]) -> Converter:
    def convert(cell: CellValue, text: str, options: Mapping[str, str]) -> tuple[object, None]:
        return parse(cell), None

    return convert


def _imei(cell: CellValue, text: str, options: Mapping[str, str]) -> tuple[object, str | None]:
    return normalise_imei(text)


def _choice(cell: CellValue, text: str, options: Mapping[str, str]) -> tuple[object, None]:
    return parse_choice(text, options), None


PARSERS: Final[Mapping[str, Converter]] = {
    "text": _text_input(clean_text),
    "upper": _text_input(clean_upper),
    "serial": _text_input(normalise_serial),
    "imei": _imei,
    "iccid": _text_input(normalise_iccid),
    "msisdn": _text_input(normalise_msisdn),
    "vrm": _text_input(normalise_vrm),
    "upn": _text_input(normalise_upn),
    "date": _cell_input(parse_date),
    "timestamp": _cell_input(parse_timestamp),
    "money": _cell_input(parse_money),
    "quantity": _cell_input(parse_quantity),
    "enum": _choice,
}

# How the row parser calls a parser without the Converter wrapper (one call per cell, not
# three): TEXT parsers take the cell text and return the value; CELL parsers take the cell as
# read; PAIR parsers take the text and return (value, warning). Parsers not listed here are
# called through PARSERS.
TEXT: Final = 0
CELL: Final = 1
PAIR: Final = 2
DIRECT_PARSERS: Final[Mapping[str, tuple[int, Callable[..., object]]]] = {
    "text": (TEXT, clean_text),
    "upper": (TEXT, clean_upper),
    "serial": (TEXT, normalise_serial),
    "imei": (PAIR, normalise_imei),
    "iccid": (TEXT, normalise_iccid),
    "msisdn": (TEXT, normalise_msisdn),
    "vrm": (TEXT, normalise_vrm),
    "upn": (TEXT, normalise_upn),
    "date": (CELL, parse_date),
    "timestamp": (CELL, parse_timestamp),
    "money": (CELL, parse_money),
    "quantity": (CELL, parse_quantity),
}
