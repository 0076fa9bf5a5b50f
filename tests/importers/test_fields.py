"""Single-value normalisers and parsers: every Excel mangling in the formats doc, and properties."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from importers.fields import (
    PARSERS,
    FieldError,
    cell_text,
    clean_text,
    clean_upper,
    luhn_check_digit,
    normalise_iccid,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    normalise_vrm,
    parse_choice,
    parse_date,
    parse_money,
    parse_quantity,
    parse_timestamp,
)

IMEI = "352099001761481"

digits = st.text(alphabet="0123456789", min_size=1, max_size=30)
imei_bodies = st.text(alphabet="0123456789", min_size=14, max_size=14)
iccid_bodies = st.integers(16, 17).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n).map(lambda s: "89" + s)
)


def excel_spellings(number: str) -> list[str]:
    """The ways Excel and clerks spell one identifier (quirk 3)."""
    return [
        number,
        f"{number}.0",
        f"'{number}",
        f"  {number}\u00a0",
        f"{number[:2]} {number[2:8]} {number[8:-1]} {number[-1]}",
        f"{number[:2]}-{number[2:8]}-{number[8:-1]}-{number[-1]}",
    ]


# --- Luhn / IMEI ---------------------------------------------------------------------------------


def test_luhn_known_values() -> None:
    assert luhn_check_digit("35209900176148") == "1"
    assert luhn_check_digit("7992739871") == "3"  # the textbook example
    with pytest.raises(FieldError):
        luhn_check_digit("12a4")


@pytest.mark.parametrize("spelling", excel_spellings(IMEI))
def test_imei_excel_manglings_recovered(spelling: str) -> None:
    assert normalise_imei(spelling) == (IMEI, None)


def test_imei_scientific_notation_rejected_with_the_documented_message() -> None:
    with pytest.raises(FieldError) as caught:
        normalise_imei("3.52099E+14")
    assert caught.value.message == (
        "IMEI is in scientific notation; digits were lost — re-export the column as text"
    )


def test_imei_wrong_check_digit_names_the_expected_digit() -> None:
    with pytest.raises(FieldError, match="IMEI check digit is wrong: expected 1"):
        normalise_imei("352099001761483")


def test_imei_14_digits_gets_check_digit_and_warning() -> None:
    imei, warning = normalise_imei("35209900176148")
    assert imei == IMEI
    assert warning is not None and "check digit 1 was added" in warning


def test_imei_14_digits_that_may_have_lost_a_leading_zero_is_rejected() -> None:
    # "01..." IMEIs lose their 0 in Excel; 0 + these 14 digits is a valid IMEI, so no guessing.
    body = "01234567890123"
    full = body + luhn_check_digit(body)
    with pytest.raises(FieldError, match="leading 0"):
        normalise_imei(full[1:])


@pytest.mark.parametrize("value", ["3520990017614", "35209900176148100", "35209900176148X"])
def test_imei_wrong_length_or_characters_rejected(value: str) -> None:
    with pytest.raises(FieldError, match="IMEI must"):
        normalise_imei(value)


def test_imei_length_is_named() -> None:
    with pytest.raises(FieldError, match="this has 13"):
        normalise_imei("3520990017614")


@given(imei_bodies)
def test_imei_property_every_spelling_round_trips(body: str) -> None:
    imei = body + luhn_check_digit(body)
    for spelling in excel_spellings(imei):
        assert normalise_imei(spelling) == (imei, None)


@given(imei_bodies)
def test_imei_property_idempotent(body: str) -> None:
    imei, _ = normalise_imei(body + luhn_check_digit(body))
    assert normalise_imei(imei) == (imei, None)


@given(imei_bodies, st.integers(1, 9))
def test_imei_property_wrong_check_digit_always_rejected(body: str, offset: int) -> None:
    good = luhn_check_digit(body)
    bad = str((int(good) + offset) % 10)
    with pytest.raises(FieldError, match=f"expected {good}$"):
        normalise_imei(body + bad)


@given(imei_bodies)
def test_imei_property_14_digits_completed_or_refused(body: str) -> None:
    try:
        imei, warning = normalise_imei(body)
    except FieldError as exc:
        assert body.startswith("1") and "leading 0" in exc.message
    else:
        assert imei == body + luhn_check_digit(body) and warning is not None


@given(st.floats(min_value=1e14, max_value=9.99e14).map(lambda f: f"{f:.5E}"))
def test_imei_property_scientific_always_rejected(text: str) -> None:
    with pytest.raises(FieldError, match="scientific notation"):
        normalise_imei(text)


# --- ICCID ---------------------------------------------------------------------------------------


def test_iccid_sample_value() -> None:
    assert normalise_iccid("8944100000000000018") == "8944100000000000018"
    assert normalise_iccid("'8944100000000000018") == "8944100000000000018"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8.9441E+18", "scientific notation"),
        ("894410000000000001", "19 or 20 digits; this has 18"),  # a digit lost
        ("9944100000000000018", "start with 89"),
        ("8944100000000000019", "check digit is wrong: expected 8"),
    ],
)
def test_iccid_rejections(value: str, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        normalise_iccid(value)


@given(iccid_bodies)
def test_iccid_property_spellings_round_trip_and_idempotent(body: str) -> None:
    iccid = body + luhn_check_digit(body)
    for spelling in excel_spellings(iccid):
        assert normalise_iccid(spelling) == iccid
    assert normalise_iccid(normalise_iccid(iccid)) == iccid


@given(iccid_bodies, st.integers(1, 9))
def test_iccid_property_wrong_check_digit_rejected(body: str, offset: int) -> None:
    good = luhn_check_digit(body)
    with pytest.raises(FieldError, match=f"expected {good}$"):
        normalise_iccid(body + str((int(good) + offset) % 10))


# --- MSISDN --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "07700 900123",
        "+44 7700 900123",
        "447700900123",
        "7700900123",  # Excel dropped the leading 0
        "+44 (0)7700 900123",
        "0044 7700 900123",
        "'07700900123",
        "07700-900-123",
        "7700900123.0",  # written as a float
        "447700900123.0",
    ],
)
def test_msisdn_uk_spellings(value: str) -> None:
    assert normalise_msisdn(value) == "+447700900123"


def test_msisdn_international_kept_as_e164() -> None:
    assert normalise_msisdn("+33 6 12 34 56 78") == "+33612345678"


@pytest.mark.parametrize(
    "value",
    [
        "12345",
        "+1234",
        "7.7009E+09",
        "0770090012",
        "phone",
        "+44 123",
        "770090012.0",  # a float's ".0" is not a digit: 9 digits, not 10
    ],
)
def test_msisdn_rejections(value: str) -> None:
    with pytest.raises(FieldError):
        normalise_msisdn(value)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_msisdn_property_uk_mobile_spellings_agree_and_idempotent(rest: str) -> None:
    national = "7" + rest
    expected = "+44" + national
    for spelling in ("0" + national, "+44" + national, "44" + national, national):
        assert normalise_msisdn(spelling) == expected
    assert normalise_msisdn(expected) == expected


# --- serial / VRM --------------------------------------------------------------------------------


def test_serial_trimmed_and_upper_cased() -> None:
    assert normalise_serial("  pf0000000x\u00a0") == "PF0000000X"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("R58R 0000000", "contains a space"),
        ("R58\x07R", "control character"),
        ("R58\u200bR", "invisible"),
        ("1.23457E+11", "scientific notation"),
        ("X" * 65, "limit is 64"),
        ("   ", "empty"),
    ],
)
def test_serial_rejections(value: str, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        normalise_serial(value)


@given(st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjk0123456789-/.", min_size=1, max_size=64))
def test_serial_property_idempotent(value: str) -> None:
    assume(not value.strip(".-").isdigit())  # keep clear of numbers that look scientific
    once = normalise_serial(value)
    assert normalise_serial(once) == once == value.upper()


@pytest.mark.parametrize("value", ["bx21 aaa", "BX21AAA", " Bx21\u00a0AaA "])
def test_vrm_normalised(value: str) -> None:
    assert normalise_vrm(value) == "BX21AAA"


@pytest.mark.parametrize("value", ["BX21-AAA", "ABCDEFGHJ", "B", "BX21AA£"])
def test_vrm_rejections(value: str) -> None:
    with pytest.raises(FieldError, match="registration"):
        normalise_vrm(value)


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=2, max_size=8))
def test_vrm_property_spaced_lower_case_round_trips(plate: str) -> None:
    spaced = " ".join(plate.lower())
    assert normalise_vrm(spaced) == plate
    assert normalise_vrm(normalise_vrm(spaced)) == plate


# --- dates and times -----------------------------------------------------------------------------

JAN_3 = dt.date(2023, 1, 3)


@pytest.mark.parametrize(
    "value",
    [
        "03/01/2023",
        "03/01/2023 00:00",  # a date-and-time cell, as Excel saves it to CSV
        "03/01/2023 14:30:15",
        "3/1/2023",
        "03/01/23",
        "2023-01-03",
        "3-Jan-23",
        "03 January 2023",
        "3 Jan 2023",
        "44929",
        44929,
        44929.0,
        44929.5,  # a time of day on 3 January
        dt.datetime(2023, 1, 3, 0, 0),
        JAN_3,
    ],
)
def test_dates_accepted(value: object) -> None:
    assert parse_date(value) == JAN_3  # type: ignore[arg-type]


def test_day_first_always() -> None:
    assert parse_date("01/02/2023") == dt.date(2023, 2, 1)
    assert parse_date("12/11/2022") == dt.date(2022, 11, 12)


@pytest.mark.parametrize(
    "value",
    ["31/02/2023", "2023-13-01", "01/02", "12/31/2023", "Jan 3 2023", "3-Foo-23", "tomorrow", ""],
)
def test_ambiguous_or_impossible_dates_rejected_saying_what_is_accepted(value: str) -> None:
    with pytest.raises(FieldError, match="DD/MM/YYYY"):
        parse_date(value)


@pytest.mark.parametrize("value", [12, 99999, "10000", True, dt.time(12, 0)])
def test_implausible_serials_and_non_dates_rejected(value: object) -> None:
    with pytest.raises(FieldError):
        parse_date(value)  # type: ignore[arg-type]


def test_timestamps() -> None:
    utc = dt.UTC
    assert parse_timestamp("2026-10-21 20:35:00.0000000") == dt.datetime(
        2026, 10, 21, 20, 35, tzinfo=utc
    )
    assert parse_timestamp("2026-10-21T20:35:00.1234567Z") == dt.datetime(
        2026, 10, 21, 20, 35, 0, 123456, tzinfo=utc
    )
    assert parse_timestamp("2026-10-21T21:35:00+01:00") == dt.datetime(
        2026, 10, 21, 20, 35, tzinfo=utc
    )
    assert parse_timestamp(dt.datetime(2026, 10, 21, 20, 35)).tzinfo == utc


@pytest.mark.parametrize("value", ["21/10/2026 20:35", "2026-02-30 10:00:00", "yesterday"])
def test_bad_timestamps_rejected(value: str) -> None:
    with pytest.raises(FieldError):
        parse_timestamp(value)


# --- money and quantity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("£1,234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("1,234.50 GBP", "1234.50"),
        (" £689.00", "689.00"),
        ("GBP 41", "41.00"),
        ("689,00", "689.00"),  # decimal comma from a semicolon-locale Excel
        ("1.500", "1.50"),  # trailing zeros are not extra pence
        (689.0, "689.00"),
        (0.1, "0.10"),
        (1234, "1234.00"),
        (Decimal("12.3"), "12.30"),
    ],
)
def test_money_accepted(value: object, expected: str) -> None:
    result = parse_money(value)  # type: ignore[arg-type]
    assert result == Decimal(expected) and str(result) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5.00", "negative"),
        ("(5.00)", "negative"),
        ("£-5", "negative"),
        (-1.0, "negative"),
        ("1.234", "more than two decimal places"),
        (0.1 + 0.2, "more than two decimal places"),  # the float is not 0.30
        ("$12", "not recognised"),
        ("12,3456", "not recognised"),
        ("NaN", "not recognised"),
        ("1e3", "not recognised"),
        ("twelve", "not recognised"),
    ],
)
def test_money_rejected(value: object, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        parse_money(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"), [("1", 1), ("1.0", 1), (250, 250), (1.0, 1), ("1,000", 1000)]
)
def test_quantity_accepted(value: object, expected: int) -> None:
    assert parse_quantity(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1.5", "0", "-1", 0, 1.5, "one", True])
def test_quantity_rejected(value: object) -> None:
    with pytest.raises(FieldError, match="whole number"):
        parse_quantity(value)  # type: ignore[arg-type]


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


def test_cell_text_of_spreadsheet_values() -> None:
    assert cell_text(352099001761481.0) == "352099001761481"
    assert (
        cell_text(8.9441e18) == "8.9441e+18"
    )  # too big to be exact: left for the parser to refuse
    assert cell_text(dt.datetime(2021, 11, 22)) == "2021-11-22"
    assert cell_text(None) == ""


def test_registry_covers_the_parsers_profiles_use() -> None:
    expected = {"text", "upper", "serial", "imei", "iccid", "msisdn", "vrm", "date", "timestamp"}
    assert expected | {"money", "quantity", "enum"} <= set(PARSERS)
    value, warning = PARSERS["imei"](352099001761481, "352099001761481", {})
    assert (value, warning) == (IMEI, None)


@pytest.mark.parametrize("value", ["1" * 30, "£12,345,678,901.00", 1e40, "10000000000"])
def test_huge_prices_are_row_errors_not_crashes(value: object) -> None:
    with pytest.raises(FieldError, match="price is too large"):
        parse_money(value)  # type: ignore[arg-type]


def test_largest_price_is_accepted() -> None:
    assert parse_money("9999999999.99") == Decimal("9999999999.99")


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


def test_identifiers_lose_the_neutralising_apostrophe_too() -> None:
    assert normalise_serial("'-A1") == "-A1"
    assert clean_upper("'=pn-1") == "=PN-1"
