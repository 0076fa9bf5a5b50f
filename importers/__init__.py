"""Supplier and MDM file readers: bytes in, typed rows and row errors out; no database."""

from importers.columns import CleanRows, RowBatch
from importers.fields import (
    FieldError,
    clean_text,
    luhn_check_digit,
    normalise_iccid,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    normalise_vrm,
    parse_date,
    parse_money,
    parse_quantity,
    parse_timestamp,
)
from importers.header import detect_profile
from importers.parse import ParsedFile, SkipCounts, parse_file
from importers.profiles import (
    FieldSpec,
    Profile,
    ProfileError,
    RowRule,
    all_profiles,
    builtin_profiles,
    get_profile,
    load_profile,
)
from importers.reader import FileRejected
from importers.rows import ParsedRow, RowIssue

__all__ = [
    "CleanRows",
    "FieldError",
    "FieldSpec",
    "FileRejected",
    "ParsedFile",
    "ParsedRow",
    "Profile",
    "ProfileError",
    "RowBatch",
    "RowIssue",
    "RowRule",
    "SkipCounts",
    "all_profiles",
    "builtin_profiles",
    "clean_text",
    "detect_profile",
    "get_profile",
    "load_profile",
    "luhn_check_digit",
    "normalise_iccid",
    "normalise_imei",
    "normalise_msisdn",
    "normalise_serial",
    "normalise_vrm",
    "parse_date",
    "parse_file",
    "parse_money",
    "parse_quantity",
    "parse_timestamp",
]
