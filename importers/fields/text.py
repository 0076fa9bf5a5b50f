"""Free text, codes, user principal names and choices from a fixed set; what a spreadsheet
would run as a formula (exports neutralise it, imports take the neutralising apostrophe off)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from importers.fields.cells import FieldError, check_controls, tidy_text

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")

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
    text = tidy_text(value)
    if _neutralised(text):
        text = tidy_text(text[1:])
    check_controls(text)
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
    canonical = options.get(choice_key(tidy_text(value)))
    if canonical is None:
        allowed = ", ".join(sorted(set(options.values())))
        raise FieldError(f"must be one of: {allowed}")
    return canonical
