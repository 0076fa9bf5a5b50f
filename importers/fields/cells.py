"""What a cell can hold, the one error a field parser raises, and the clean-up every
parser shares: a cell's text as a spreadsheet shows it, stripped, controls refused, and the
digits of an identifier Excel may have mangled."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
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


DIGITS = re.compile(r"[0-9]+")
SCIENTIFIC = re.compile(r"[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+")
TRAILING_ZERO_DECIMAL = re.compile(r"\.0+$")
_SEPARATORS = re.compile(r"[\s\-]+")
# C0 and C1 control characters except tab, plus the bidirectional overrides and isolates
# that can make a cell display differently from what it contains ("Trojan source").
CONTROL_CHARACTERS: Final = r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
_CONTROL = re.compile(CONTROL_CHARACTERS)
WHITESPACE = re.compile(r"\s+")
_NBSPS = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u202f": " "})


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


def tidy_text(value: str) -> str:
    """Strip, and turn non-breaking spaces (common in pasted cells) into plain spaces."""
    # isascii() is a fast path: most cells have no non-breaking space to translate.
    return (value if value.isascii() else value.translate(_NBSPS)).strip()


def check_controls(text: str) -> None:
    found = _CONTROL.search(text)
    if found is None:
        return
    char = found.group()
    what = "a line break" if char in "\r\n" else f"U+{ord(char):04X}"
    raise FieldError(f"contains a control character ({what}); remove it and save the file again")


def excel_digits(value: str, label: str) -> str:
    """Digits of an identifier that Excel may have mangled (quote prefix, ".0", spaces)."""
    text = tidy_text(value)
    if text.isdigit() and text.isascii():  # the usual, unmangled case
        return text
    if text.startswith("'"):  # Excel's "store as text" prefix, exported literally
        text = text[1:]
    text = _SEPARATORS.sub("", text)
    if SCIENTIFIC.fullmatch(text):
        raise FieldError(
            f"{label} is in scientific notation; digits were lost — re-export the column as text"
        )
    text = TRAILING_ZERO_DECIMAL.sub("", text)
    if not text:
        raise FieldError(f"{label} is empty")
    if not DIGITS.fullmatch(text):
        raise FieldError(f"{label} must contain only digits")
    return text
