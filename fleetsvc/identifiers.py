"""The device identifiers' rules as the OpenAPI document states them: serial number, IMEI,
ICCID, phone number (MSISDN) and vehicle registration (VRM).

``importers.fields`` reads each one leniently, as a spreadsheet writes it (spaces, a lost
leading 0, ``.0``); the document states the form a client should send, which is always
read. IMEI and ICCID end in a Luhn check digit, which no pattern can state: their
``format`` (``imei``, ``iccid``) says so, and the fuzzer's hooks (tests/fuzz_hooks.py)
generate valid ones.
"""

from __future__ import annotations

from typing import Any

from fleetsvc.checks import SPACE, SPACE_CHARACTERS
from importers.fields import CONTROL_CHARACTERS, MAX_SERIAL_LEN

_CELL_CONTROL = CONTROL_CHARACTERS.removeprefix("[").removesuffix("]")
_INVISIBLE = "\\u00ad\\u200b-\\u200f\\u2060\\ufeff"

# Trimmed, then 1 to 64 characters with no space, control or invisible character inside.
# The limit is the trimmed serial's, as the normaliser reads it (a maxLength would count the
# spaces around it: make fuzz sent 64 characters between NELs, and the service took them).
SERIAL: dict[str, Any] = {
    "pattern": (
        f"^{SPACE}*[^{SPACE_CHARACTERS}{_CELL_CONTROL}{_INVISIBLE}]{{1,{MAX_SERIAL_LEN}}}{SPACE}*$"
    ),
}
IMEI: dict[str, Any] = {
    "format": "imei",
    "pattern": "^[0-9]{15}$",
    "description": "15 digits, the last a Luhn check digit",
}
ICCID: dict[str, Any] = {
    "format": "iccid",
    "pattern": "^89[0-9]{17,18}$",
    "description": "19 or 20 digits starting 89, the last a Luhn check digit",
}
# A UK mobile number as it is usually written, or in E.164.
MSISDN: dict[str, Any] = {
    "pattern": "^(?:07[0-9]{3} ?[0-9]{6}|\\+447[0-9]{9})$",
    "description": "a UK mobile number, such as 07700 900123 or +447700900123",
}
# 2 to 8 letters and digits once every space is taken out.
VRM: dict[str, Any] = {"pattern": f"^(?:{SPACE}*[A-Za-z0-9]){{2,8}}{SPACE}*$"}

# The list filters named for an identifier take its rule.
FILTERS: dict[str, dict[str, Any]] = {
    "serial": SERIAL,
    "imei": IMEI,
    "iccid": ICCID,
    "msisdn": MSISDN,
    "vrm": VRM,
}


def or_empty(rule: dict[str, Any]) -> dict[str, Any]:
    """``rule`` for a field where an empty string means none (a body's IMEI or MSISDN)."""
    return {**rule, "pattern": f"^$|{rule['pattern']}"}
