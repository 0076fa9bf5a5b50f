"""Free text, control characters, formula-like cells and choices (importers/fields/text.py)."""

import re

import pytest

from importers.fields import (
    FieldError,
    clean_text,
    parse_choice,
)

# --- text, choices, registry ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=SUM(A1:A9)", "+44 cmd", "-2+3", "@SUM(1)", '=HYPERLINK("x")'])
def test_formula_like_text_kept_unchanged(value: str) -> None:
    assert clean_text(value) == value


def test_clean_text_strips_and_collapses_nbsp() -> None:
    assert clean_text("\u00a0Havis dock\u00a0 ") == "Havis dock"
    assert clean_text("a\tb") == "a\tb"


@pytest.mark.parametrize(
    ("value", "shown"), [("a\x00b", "U+0000"), ("a\nb", "a line break"), ("a\u202eb", "U+202E")]
)
def test_control_characters_rejected(value: str, shown: str) -> None:
    with pytest.raises(FieldError, match=re.escape(shown)):
        clean_text(value)


def test_over_long_text_rejected() -> None:
    with pytest.raises(FieldError, match="text is 1,001 characters; the limit is 1,000"):
        clean_text("x" * 1001)


def test_choice_is_case_and_space_insensitive() -> None:
    options = {"completed": "completed", "aborted": "aborted", "ingraceperiod": "in_grace_period"}
    assert parse_choice(" COMPLETED ", options) == "completed"
    assert parse_choice("In grace period", options) == "in_grace_period"
    with pytest.raises(FieldError, match="must be one of: aborted, completed, in_grace_period"):
        parse_choice("Done", options)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("'=HYPERLINK(1)", "=HYPERLINK(1)"),  # neutralised by an export: restored
        ("'-DN 7", "-DN 7"),
        (" '+44 ", "+44"),
        ("'@SUM", "@SUM"),
        ("=HYPERLINK(1)", "=HYPERLINK(1)"),  # kept as text, exactly
        ("'quoted'", "'quoted'"),  # an apostrophe before anything else is data
        ("'", "'"),
    ],
)
def test_clean_text_takes_off_only_the_exports_neutralising_apostrophe(
    value: str, expected: str
) -> None:
    assert clean_text(value) == expected


# --- fast paths: a clean cell and the same value spelt messily normalise alike, and
# a clean-looking bad value is still refused with the same message


def test_clean_text_strips_printable_text_and_still_refuses_control_characters() -> None:
    assert clean_text("  Galaxy A32  ") == "Galaxy A32"
    assert clean_text("\u00a0Galaxy\u00a0A32 ") == "Galaxy A32"
    with pytest.raises(FieldError, match="control character"):
        clean_text("Galaxy\u202eA32")
    with pytest.raises(FieldError, match="the limit is 5"):
        clean_text("  Galaxy  ", 5)
