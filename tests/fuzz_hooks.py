"""schemathesis hooks for ``make fuzz`` (tests/fuzz.py loads them, SCHEMATHESIS_HOOKS).

The document gives IMEIs and ICCIDs a ``format`` (``fleetsvc.identifiers``): their last
digit is a Luhn check digit, which no pattern states. These strategies generate valid
ones, so a schema-valid IMEI is one the service accepts.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from importers.fields import luhn_check_digit


def _with_check_digit(body: str) -> str:
    return body + luhn_check_digit(body)


schemathesis.openapi.format("imei", st.from_regex(r"\A[0-9]{14}\Z").map(_with_check_digit))
schemathesis.openapi.format("iccid", st.from_regex(r"\A89[0-9]{16,17}\Z").map(_with_check_digit))
