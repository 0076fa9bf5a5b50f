"""Identifiers in supplier and MDM files: IMEI and ICCID (with their Luhn check digits),
MSISDN (phone numbers, to E.164), manufacturer serials and vehicle registrations (VRM)."""

from __future__ import annotations

import re
from typing import Final

from importers.fields.cells import (
    DIGITS,
    SCIENTIFIC,
    TRAILING_ZERO_DECIMAL,
    WHITESPACE,
    FieldError,
    excel_digits,
    tidy_text,
)
from importers.fields.text import clean_text

_FLOAT_DIGITS = re.compile(r"\+?[0-9]+\.0+")
# Zero-width and other invisible characters: harmless in free text, but in an identifier they
# make two values that look identical compare different.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]+")

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
    if not DIGITS.fullmatch(body):
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
    digits = excel_digits(value, "IMEI")
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
    digits = excel_digits(value, "ICCID")
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
    text = tidy_text(value)
    if text.startswith("'"):
        text = text[1:]
    if _FLOAT_DIGITS.fullmatch(text):
        # "7700900123.0": a number Excel (or a script) wrote as a float. The ".0" is not
        # part of the number; taken as punctuation it would add a digit.
        text = TRAILING_ZERO_DECIMAL.sub("", text)
    text = text.replace("(0)", "")  # "+44 (0)7700 900123": the 0 is only dialled nationally
    text = _PHONE_PUNCTUATION.sub("", text)
    if SCIENTIFIC.fullmatch(text):
        raise FieldError(
            "phone number is in scientific notation; digits were lost — "
            "re-export the column as text"
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not DIGITS.fullmatch(digits):
            raise FieldError(f"phone number must contain only digits; {_MSISDN_HINT}")
        if digits.startswith("44"):
            return _uk_e164(digits[2:])
        if not 8 <= len(digits) <= 15 or digits.startswith("0"):
            raise FieldError(f"phone number is not a valid international number; {_MSISDN_HINT}")
        return "+" + digits
    if not DIGITS.fullmatch(text):
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
    if WHITESPACE.search(text):
        raise FieldError("serial number contains a space; type it without spaces")
    if SCIENTIFIC.fullmatch(text) and "+" in text:
        raise FieldError(
            "serial number is in scientific notation; digits were lost — "
            "re-export the column as text"
        )
    return text


_VRM = re.compile(r"[A-Z0-9]{2,8}")


def normalise_vrm(value: str) -> str:
    """A UK vehicle registration mark, spaces removed and upper-cased ("bx21 aaa" -> "BX21AAA")."""
    text = WHITESPACE.sub("", tidy_text(value)).upper()
    if not _VRM.fullmatch(text):
        raise FieldError("registration must be 2 to 8 letters and digits, such as BX21 AAA")
    return text
