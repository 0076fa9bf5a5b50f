"""Normalisers and parsers for single cell values from supplier and MDM files, one module per
kind of value: identifiers (IMEI, ICCID, MSISDN, serial, VRM), dates, amounts (money and
quantities), text (free text, UPNs, choices), and the parsers by the names profiles use.

Each parser returns the normalised value or raises FieldError; a value is never guessed.
"""

from importers.fields.amounts import parse_money, parse_quantity
from importers.fields.cells import CONTROL_CHARACTERS, CellValue, FieldError, cell_text
from importers.fields.dates import (
    EXCEL_EPOCH,
    MAX_YEAR,
    MIN_YEAR,
    parse_date,
    parse_timestamp,
    register_date,
)
from importers.fields.identifiers import (
    MAX_SERIAL_LEN,
    luhn_check_digit,
    normalise_iccid,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    normalise_vrm,
)
from importers.fields.parsers import CELL, DIRECT_PARSERS, PAIR, PARSERS, TEXT, Converter
from importers.fields.text import (
    choice_key,
    clean_text,
    clean_upper,
    looks_like_formula,
    normalise_upn,
    parse_choice,
)

__all__ = [
    "CELL",
    "CONTROL_CHARACTERS",
    "DIRECT_PARSERS",
    "EXCEL_EPOCH",
    "MAX_SERIAL_LEN",
    "MAX_YEAR",
    "MIN_YEAR",
    "PAIR",
    "PARSERS",
    "TEXT",
    "CellValue",
    "Converter",
    "FieldError",
    "cell_text",
    "choice_key",
    "clean_text",
    "clean_upper",
    "looks_like_formula",
    "luhn_check_digit",
    "normalise_iccid",
    "normalise_imei",
    "normalise_msisdn",
    "normalise_serial",
    "normalise_upn",
    "normalise_vrm",
    "parse_choice",
    "parse_date",
    "parse_money",
    "parse_quantity",
    "parse_timestamp",
    "register_date",
]
