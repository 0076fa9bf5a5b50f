"""Codes as a barcode scanner types them, read the way the register keeps each identifier.

A scanner types the code and Enter; around it there may be spaces, a carriage return or a
tab. Each code is trimmed and then read as every identifier it could be: a serial number
(upper-cased), an IMEI (15 digits with a valid check digit, spaces and dashes taken out),
an ICCID (the same, 19 or 20 digits from 89), and an asset tag (exactly as given, as tags
are kept). A code too long to be any of them, empty, or holding a control character is
refused with the code's place in the batch, and then none of the batch is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from fleetsvc.assets.fields import strict_imei
from fleetsvc.checks import Problems
from fleetsvc.errors import ValidationFailed
from importers.fields import FieldError, normalise_iccid, normalise_serial

MAX_BATCH: Final = 1000
# The longest identifier the register keeps (a serial number); an asset tag is 32.
MAX_CODE: Final = 64
_CONTROL = tuple(chr(c) for c in (*range(32), *range(127, 160)))


@dataclass(frozen=True, slots=True)
class ScannedCode:
    """One code and the identifiers it could be (None: it cannot be that one)."""

    code: str  # trimmed, as scanned; also the asset tag it could be
    serial: str | None
    imei: str | None
    iccid: str | None


def _as(normalise: Callable[[str], str], code: str) -> str | None:
    try:
        return normalise(code)
    except FieldError:
        return None


def read_code(code: str) -> ScannedCode:
    """A trimmed, checked code as each identifier it could be."""
    return ScannedCode(
        code=code,
        serial=_as(normalise_serial, code),
        imei=_as(strict_imei, code),
        iccid=_as(normalise_iccid, code),
    )


def _problem(code: str) -> str | None:
    if not code:
        return "the code is empty: scan it again"
    if len(code) > MAX_CODE:
        return (
            f"a scanned code is at most {MAX_CODE} characters (no serial number, IMEI, asset"
            f" tag or ICCID is longer); this one has {len(code):,}"
        )
    if any(c in _CONTROL for c in code):
        return "the code holds a control character: scan it again"
    return None


def read_codes(codes: Sequence[str], field: str = "codes") -> list[ScannedCode]:
    """A batch of 1 to ``MAX_BATCH`` scanned codes, every one checked: a bad one is a 422
    naming its place (``codes.3``), and then nothing of the batch counts."""
    if not codes:
        raise ValidationFailed.one(field, "send at least one scanned code")
    if len(codes) > MAX_BATCH:
        raise ValidationFailed.one(
            field,
            f"a batch holds at most {MAX_BATCH:,} codes; this one has {len(codes):,}:"
            " send them in several batches",
        )
    p = Problems()
    trimmed = [c.strip() for c in codes]
    for n, code in enumerate(trimmed):
        # The length is the code's as sent (the document's maxLength), spaces included.
        problem = _problem(code if len(codes[n]) <= MAX_CODE else codes[n])
        if problem is not None:
            p.add(f"{field}.{n}", problem)
    p.raise_if_any()
    return [read_code(c) for c in trimmed]
