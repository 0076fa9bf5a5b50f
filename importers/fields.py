"""Normalisers and parsers for single cell values from supplier and MDM files.

Each parser returns the normalised value or raises FieldError; a value is never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Final

# What a cell can hold: CSV gives str; openpyxl gives numbers, dates, times and booleans too.
CellValue = (
    str | int | float | bool | Decimal | dt.datetime | dt.date | dt.time | dt.timedelta | None
)


class FieldError(ValueError):
    """A value that cannot be recovered; the message is written for a stores clerk."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- shared helpers ------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
_SCIENTIFIC = re.compile(r"[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+")
_TRAILING_ZERO_DECIMAL = re.compile(r"\.0+$")
_SEPARATORS = re.compile(r"[\s\-]+")
_FLOAT_DIGITS = re.compile(r"\+?[0-9]+\.0+")
# C0 and C1 control characters except tab, plus the bidirectional overrides and isolates
# that can make a cell display differently from what it contains ("Trojan source").
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Zero-width and other invisible characters: harmless in free text, but in an identifier they
# make two values that look identical compare different.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]+")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_NBSPS = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u202f": " "})

EXCEL_EPOCH: Final = dt.date(
    1899, 12, 30
)  # serial 1 = 1900-01-01, allowing for Excel's 1900 leap-year bug
MIN_YEAR: Final = 1990
MAX_YEAR: Final = 2100


def cell_text(value: CellValue) -> str:
    """The text a spreadsheet would show for a cell, without the clutter of float formatting."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Whole numbers below 2**53 are exact in a double, so "352099001761481.0" is the
        # IMEI 352099001761481; anything larger keeps its repr and is judged by the parser.
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _tidy(value: str) -> str:
    """Strip, and turn non-breaking spaces (common in pasted cells) into plain spaces."""
    # isascii() is a fast path: most cells have no non-breaking space to translate.
    return (value if value.isascii() else value.translate(_NBSPS)).strip()


def _check_controls(text: str) -> None:
    found = _CONTROL.search(text)
    if found is None:
        return
    char = found.group()
    what = "a line break" if char in "\r\n" else f"U+{ord(char):04X}"
    raise FieldError(f"contains a control character ({what}); remove it and save the file again")


def _excel_digits(value: str, label: str) -> str:
    """Digits of an identifier that Excel may have mangled (quote prefix, ".0", spaces)."""
    text = _tidy(value)
    if text.isdigit() and text.isascii():  # the usual, unmangled case
        return text
    if text.startswith("'"):  # Excel's "store as text" prefix, exported literally
        text = text[1:]
    text = _SEPARATORS.sub("", text)
    if _SCIENTIFIC.fullmatch(text):
        raise FieldError(
            f"{label} is in scientific notation; digits were lost — re-export the column as text"
        )
    text = _TRAILING_ZERO_DECIMAL.sub("", text)
    if not text:
        raise FieldError(f"{label} is empty")
    if not _DIGITS.fullmatch(text):
        raise FieldError(f"{label} must contain only digits")
    return text


# --- identifiers ---------------------------------------------------------------------------------


# A doubled digit's contribution: 2*d, less 9 when that has two digits, as the digit whose
# code point carries it (so a whole string of them is summed in C: sum(text.encode())).
_LUHN_DOUBLED: Final = str.maketrans("0123456789", "0246813579")


def _luhn_digit(body: str) -> str:
    """luhn_check_digit for a body already known to be ASCII digits (the per-row path)."""
    # The digit next to the check digit is doubled, then every second one leftwards.
    reverse = body[::-1]
    total = sum(reverse[0::2].translate(_LUHN_DOUBLED).encode()) + sum(reverse[1::2].encode())
    return "0123456789"[(48 * len(body) - total) % 10]


def luhn_check_digit(body: str) -> str:
    """The Luhn (mod 10) check digit for a string of digits."""
    if not _DIGITS.fullmatch(body):
        raise FieldError("a check digit can only be computed for digits")
    return _luhn_digit(body)


def _luhn_valid(number: str) -> bool:
    return _luhn_digit(number[:-1]) == number[-1]


def normalise_imei(value: str) -> tuple[str, str | None]:
    """A 15-digit IMEI with a valid Luhn digit, and a warning if the check digit was added.

    14 digits are a body without its check digit (the digit is computed and a warning
    returned) - except when the value starts with 1 and a leading 0 would make it a valid
    IMEI: then Excel may have dropped the 0 of an "01..." IMEI and the row is rejected.
    """
    # Fast path: an already-clean IMEI (the usual cell) needs no cleaning.
    if (
        len(value) == 15
        and value.isdigit()
        and value.isascii()
        and _luhn_digit(value[:14]) == value[14]
    ):
        return value, None
    digits = _excel_digits(value, "IMEI")
    if len(digits) == 14:
        if digits[0] == "1" and _luhn_valid("0" + digits):
            raise FieldError(
                "IMEI has 14 digits and may have lost a leading 0 in Excel; "
                "re-export the column as text"
            )
        check = _luhn_digit(digits)
        return digits + check, f"IMEI had 14 digits; the check digit {check} was added"
    if len(digits) != 15:
        raise FieldError(f"IMEI must be 15 digits; this has {len(digits)}")
    expected = _luhn_digit(digits[:14])
    if digits[14] != expected:
        raise FieldError(f"IMEI check digit is wrong: expected {expected}")
    return digits, None


def normalise_iccid(value: str) -> str:
    """A SIM card number: 19 or 20 digits, starting 89 (telecoms), valid Luhn digit."""
    # Fast path: an already-clean ICCID needs no cleaning.
    if (
        19 <= len(value) <= 20
        and value.startswith("89")
        and value.isdigit()
        and value.isascii()
        and _luhn_digit(value[:-1]) == value[-1]
    ):
        return value
    digits = _excel_digits(value, "ICCID")
    if len(digits) not in (19, 20):
        raise FieldError(f"ICCID must be 19 or 20 digits; this has {len(digits)}")
    if not digits.startswith("89"):
        raise FieldError("ICCID must start with 89")
    expected = _luhn_digit(digits[:-1])
    if digits[-1] != expected:
        raise FieldError(f"ICCID check digit is wrong: expected {expected}")
    return digits


_MSISDN_HINT = (
    "use a UK number such as 07700 900123 or an international one such as +44 7700 900123"
)


# The usual spelling of a UK mobile number ("07700 900123"), converted without the general path.
_UK_MOBILE = re.compile(r"0(7[0-9]{3}) ?([0-9]{6})")


def normalise_msisdn(value: str) -> str:
    """A phone number in E.164 form; UK numbers in any usual spelling become +44..."""
    usual = _UK_MOBILE.fullmatch(value)
    if usual is not None:
        return "+44" + usual[1] + usual[2]
    text = _tidy(value)
    if text.startswith("'"):
        text = text[1:]
    if _FLOAT_DIGITS.fullmatch(text):
        # "7700900123.0": a number Excel (or a script) wrote as a float. The ".0" is not
        # part of the number; taken as punctuation it would add a digit.
        text = _TRAILING_ZERO_DECIMAL.sub("", text)
    text = text.replace("(0)", "")  # "+44 (0)7700 900123": the 0 is only dialled nationally
    text = _PHONE_PUNCTUATION.sub("", text)
    if _SCIENTIFIC.fullmatch(text):
        raise FieldError(
            "phone number is in scientific notation; digits were lost — "
            "re-export the column as text"
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not _DIGITS.fullmatch(digits):
            raise FieldError(f"phone number must contain only digits; {_MSISDN_HINT}")
        if digits.startswith("44"):
            return _uk_e164(digits[2:])
        if not 8 <= len(digits) <= 15 or digits.startswith("0"):
            raise FieldError(f"phone number is not a valid international number; {_MSISDN_HINT}")
        return "+" + digits
    if not _DIGITS.fullmatch(text):
        raise FieldError(f"phone number must contain only digits; {_MSISDN_HINT}")
    if text.startswith("0"):
        return _uk_e164(text[1:])
    if text.startswith("44") and len(text) == 12:
        return _uk_e164(text[2:])
    if text.startswith("7") and len(text) == 10:  # Excel dropped the leading 0 of 07...
        return _uk_e164(text)
    raise FieldError(f"phone number not recognised; {_MSISDN_HINT}")


def _uk_e164(national: str) -> str:
    # UK national significant numbers are 10 digits (9 for a few old geographic ranges);
    # mobile numbers (7...) are always 10.
    if (
        len(national) not in (9, 10)
        or national[0] == "0"
        or (national[0] == "7" and len(national) != 10)
    ):
        raise FieldError(f"phone number is not a valid UK number; {_MSISDN_HINT}")
    return "+44" + national


MAX_SERIAL_LEN: Final = 64


def normalise_serial(value: str) -> str:
    """A manufacturer serial: trimmed and upper-cased.

    A space inside a serial is rejected rather than removed or kept: removing it would be a
    guess, and keeping it breaks matching against the MDM (which reports serials unspaced).
    """
    # Fast path: letters and digits only (the usual serial) need nothing but upper-casing.
    if value.isalnum() and value.isascii() and len(value) <= MAX_SERIAL_LEN:
        return value.upper()
    text = clean_text(value, MAX_SERIAL_LEN).upper()
    if not text:
        raise FieldError("serial number is empty")
    if _INVISIBLE.search(text):
        raise FieldError("serial number contains an invisible character")
    if _WHITESPACE.search(text):
        raise FieldError("serial number contains a space; type it without spaces")
    if _SCIENTIFIC.fullmatch(text) and "+" in text:
        raise FieldError(
            "serial number is in scientific notation; digits were lost — "
            "re-export the column as text"
        )
    return text


_VRM = re.compile(r"[A-Z0-9]{2,8}")


def normalise_vrm(value: str) -> str:
    """A UK vehicle registration mark, spaces removed and upper-cased ("bx21 aaa" -> "BX21AAA")."""
    text = _WHITESPACE.sub("", _tidy(value)).upper()
    if not _VRM.fullmatch(text):
        raise FieldError("registration must be 2 to 8 letters and digits, such as BX21 AAA")
    return text


# --- dates and times -----------------------------------------------------------------------------

_ACCEPTED_DATES = "use DD/MM/YYYY (day first), YYYY-MM-DD, 3-Jan-2023 or 3 January 2023"
_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# A time after the date (Excel writes "03/01/2023 00:00" for a date-and-time cell when it
# saves a CSV) is dropped: the field is a date, as with ISO text and Excel serials.
_DMY = re.compile(
    r"([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{2}|[0-9]{4})"
    r"(?: [0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"
)
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ][0-9:.]+)?")
_NAMED_MONTH = re.compile(
    r"([0-9]{1,2})(?:st|nd|rd|th)?[\s\-]+([A-Za-z]+)\.?[\s\-,]+([0-9]{2}|[0-9]{4})"
)
_SERIAL = re.compile(r"([0-9]{5})(?:\.[0-9]+)?")


def _full_year(year: str) -> int:
    # Two-digit years follow Excel's own rule: 00-29 are 2000s, 30-99 are 1900s.
    number = int(year)
    if len(year) == 2:
        return 2000 + number if number < 30 else 1900 + number
    return number


def register_date(day: dt.date) -> dt.date:
    """A date the register holds: within the years delivery files are held to.

    Beyond them is a typing slip, and the edges are unsafe: asyncpg stores 9999-12-31 and
    0001-01-01 as PostgreSQL's infinity, and a refresh date a lifecycle after year 9999
    cannot be read back.
    """
    if not MIN_YEAR <= day.year < MAX_YEAR:
        raise FieldError(f"must be a date from {MIN_YEAR} to {MAX_YEAR - 1}")
    return day


def _make_date(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        made = dt.date(year, month, day)
    except ValueError:
        raise FieldError(
            f"{text} is not a real date (dates are read day first); {_ACCEPTED_DATES}"
        ) from None
    return _in_range(made)


def _in_range(day: dt.date) -> dt.date:
    if not MIN_YEAR <= day.year < MAX_YEAR:
        raise FieldError(f"date {day:%d/%m/%Y} is outside {MIN_YEAR}-{MAX_YEAR - 1}")
    return day


def _excel_serial(serial: float) -> dt.date:
    low = (dt.date(MIN_YEAR, 1, 1) - EXCEL_EPOCH).days
    high = (dt.date(MAX_YEAR, 1, 1) - EXCEL_EPOCH).days
    if not low <= serial < high:
        raise FieldError(
            f"{cell_text(serial)} is not a date between {MIN_YEAR} and {MAX_YEAR - 1}; "
            f"{_ACCEPTED_DATES}"
        )
    # A fraction is a time of day; the date is the whole part.
    return EXCEL_EPOCH + dt.timedelta(days=int(serial))


# A delivery file repeats a handful of dates on every row: text already read is looked up.
_DATE_CACHE: dict[str, dt.date] = {}
_DATE_CACHE_SIZE: Final = 4096


def parse_date(value: CellValue) -> dt.date:
    """A date from UK text (day first, always), ISO text, an Excel serial or a cell date."""
    if type(value) is str:
        day = _DATE_CACHE.get(value)
        if day is None:
            day = _parse_date(value)
            if len(_DATE_CACHE) >= _DATE_CACHE_SIZE:
                _DATE_CACHE.clear()
            _DATE_CACHE[value] = day
        return day
    return _parse_date(value)


def _parse_date(value: CellValue) -> dt.date:
    if isinstance(value, dt.datetime):
        return _in_range(value.date())
    if isinstance(value, dt.date):
        return _in_range(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(f"not a date; {_ACCEPTED_DATES}")
    if isinstance(value, int | float):
        return _excel_serial(value)
    text = _tidy(value)
    if match := _DMY.fullmatch(text):
        day, month, year = match.groups()
        return _make_date(_full_year(year), int(month), int(day), text)
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
        return _make_date(int(year), int(month), int(day), text)
    if match := _NAMED_MONTH.fullmatch(text):
        day, month_name, year = match.groups()
        month = _MONTHS.get(month_name.casefold())
        if month is None:
            raise FieldError(f"{month_name} is not a month; {_ACCEPTED_DATES}")
        return _make_date(_full_year(year), month, int(day), text)
    if _SERIAL.fullmatch(text):
        return _excel_serial(float(text))
    raise FieldError(f"date not recognised; {_ACCEPTED_DATES}")


_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]+))?)?\s*(Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.IGNORECASE,
)


def parse_timestamp(value: CellValue) -> dt.datetime:
    """An aware UTC datetime from MDM text ("2026-10-21 20:35:00.0000000", UTC) or ISO 8601.

    Text without an offset is UTC, as the MDM exports it. Fractions beyond microseconds
    (the MDM writes 100 ns ticks) are truncated.
    """
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC)
    if not isinstance(value, str):
        raise FieldError("not a date and time; use YYYY-MM-DD HH:MM:SS (UTC)")
    match = _TIMESTAMP.fullmatch(_tidy(value))
    if match is None:
        raise FieldError("date and time not recognised; use YYYY-MM-DD HH:MM:SS (UTC)")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    zone = dt.UTC
    if offset and offset.upper() != "Z":
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[-2:])
        zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        stamp = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, zone
        )
    except ValueError:
        raise FieldError("not a real date and time; use YYYY-MM-DD HH:MM:SS (UTC)") from None
    _in_range(stamp.date())
    return stamp.astimezone(dt.UTC)


# --- amounts -------------------------------------------------------------------------------------

_PENNY: Final = Decimal("0.01")
_PLAIN_NUMBER = re.compile(r"[0-9]*\.?[0-9]+|[0-9]+\.")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{2}")  # "689,00" from a European-locale Excel
_MONEY_HINT = "use a GBP amount such as £1,234.50"


def _number_text(text: str) -> str | None:
    """Plain decimal text from "1,234.50" or "1234.5"; None if it is not a number."""
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    if _THOUSANDS.fullmatch(text):
        return text.replace(",", "")
    return None


def _decimal_of(value: int | float | Decimal) -> Decimal:
    # Floats go through repr (the shortest text that round-trips), never binary arithmetic.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


_MONEY_LIMIT = Decimal(10) ** 10


def parse_money(value: CellValue) -> Decimal:
    """A GBP amount quantized to pence; negatives, fractions of a penny and garbage rejected."""
    if isinstance(value, bool):
        raise FieldError(f"price is not a number; {_MONEY_HINT}")
    if isinstance(value, int | float | Decimal):
        amount = _decimal_of(value)
    elif isinstance(value, str):
        amount = _money_from_text(value)
    else:
        raise FieldError(f"price is not a number; {_MONEY_HINT}")
    if not amount.is_finite():
        raise FieldError(f"price is not a number; {_MONEY_HINT}")
    if amount < 0:
        raise FieldError("price is negative")
    if amount >= _MONEY_LIMIT:
        # The register keeps money as numeric(12, 2); a larger price is a mistake.
        raise FieldError("price is too large; the most a price can be is £9,999,999,999.99")
    pence = amount.quantize(_PENNY)
    if pence != amount:
        raise FieldError("price has more than two decimal places")
    return pence


def _money_from_text(value: str) -> Decimal:
    text = _WHITESPACE.sub("", _tidy(value))
    if text.startswith("-") or (text.startswith("(") and text.endswith(")")):
        raise FieldError("price is negative")
    text = text.removeprefix("£")
    upper = text.upper()
    if upper.endswith("GBP"):
        text = text[:-3]
    elif upper.startswith("GBP"):
        text = text[3:]
    text = text.removeprefix("£")
    if text.startswith("-"):
        raise FieldError("price is negative")
    number = _number_text(text)
    if number is None and _DECIMAL_COMMA.fullmatch(text):
        number = text.replace(",", ".")
    if number is None:
        raise FieldError(f"price not recognised; {_MONEY_HINT}")
    try:
        return Decimal(number)
    except InvalidOperation:
        raise FieldError(f"price not recognised; {_MONEY_HINT}") from None


def parse_quantity(value: CellValue) -> int:
    """A whole number of items, 1 or more ("1.0" is fine; "1.5", "0" and "-1" are not)."""
    message = "quantity must be a whole number, 1 or more"
    if isinstance(value, bool):
        raise FieldError(message)
    if isinstance(value, int | float | Decimal):
        number = _decimal_of(value)
    elif isinstance(value, str):
        tidy = value if value.isdigit() and value.isascii() else _tidy(value)
        if tidy.isdigit() and tidy.isascii():  # the usual "1", without regex or Decimal
            number_int = int(tidy)
            if number_int < 1:
                raise FieldError(message)
            return number_int
        text = _number_text(_WHITESPACE.sub("", tidy))
        if text is None:
            raise FieldError(message)
        number = Decimal(text)
    else:
        raise FieldError(message)
    if not number.is_finite() or number != number.to_integral_value() or number < 1:
        raise FieldError(message)
    return int(number)


# --- text ----------------------------------------------------------------------------------------


# What a spreadsheet reads as the start of a formula: = + - @ and their full-width forms
# (Excel takes those too), after any leading white space; a leading tab or line break is
# refused as well (DDE tricks). fleetsvc.exports.safe_cell neutralises such a cell with an
# apostrophe, which clean_text takes off again when the cell comes back (a rejected.csv
# corrected and uploaded again).
_FORMULA_CHARACTERS: Final = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_LEADING_SPACE: Final = " \u00a0\u2007\u202f\u3000"


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet could run ``text`` as a formula if written to a cell."""
    if text[:1] in ("\t", "\r", "\n"):
        return True
    return text.lstrip(_LEADING_SPACE)[:1] in _FORMULA_CHARACTERS


def _neutralised(text: str) -> bool:
    """Text an export neutralised: an apostrophe before what looks like a formula."""
    return text.startswith("'") and looks_like_formula(text[1:])


def clean_text(value: str, max_len: int = 1000) -> str:
    """Free text, stripped, non-breaking spaces made plain; control characters rejected.

    Cells starting = + - @ are kept exactly: they are data here and are neutralised
    when exported, not on the way in. The apostrophe an export puts before such a cell
    (rejected.csv corrected and uploaded again) is taken off again.
    """
    # Fast path: a printable string holds no control, bidi or non-breaking space character
    # (all are non-printable), so stripping is all the cleaning it needs.
    if value.isprintable():
        text = value.strip()
        if len(text) <= max_len and not _neutralised(text):
            return text
    text = _tidy(value)
    if _neutralised(text):
        text = _tidy(text[1:])
    _check_controls(text)
    if len(text) > max_len:
        raise FieldError(f"text is {len(text):,} characters; the limit is {max_len:,}")
    return text


def clean_upper(value: str) -> str:
    """Text in upper case, for codes such as part numbers."""
    return clean_text(value, 200).upper()


# A UPN is written like an e-mail address: one @, no spaces, a dotted domain (the same rule
# as fleetsvc.people's).
_UPN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


def normalise_upn(value: str) -> str:
    """A user principal name (work e-mail address), trimmed and lower-cased."""
    text = clean_text(value, 254).lower()
    if not _UPN.fullmatch(text):
        raise FieldError("must look like an e-mail address, such as a.smith@force.police.uk")
    return text


def choice_key(value: str) -> str:
    """The form choices are compared in: case, spaces and punctuation ignored."""
    return _NOT_ALNUM.sub("", value.casefold())


def parse_choice(value: str, options: Mapping[str, str]) -> str:
    """One of a fixed set of values; options maps choice_key(spelling) to the canonical value."""
    canonical = options.get(choice_key(_tidy(value)))
    if canonical is None:
        allowed = ", ".join(sorted(set(options.values())))
        raise FieldError(f"must be one of: {allowed}")
    return canonical


# --- registry ------------------------------------------------------------------------------------

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
