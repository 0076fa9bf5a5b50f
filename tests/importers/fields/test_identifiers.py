"""IMEI, ICCID, MSISDN, serial and VRM: every Excel mangling in the formats doc, and
properties (importers/fields/identifiers.py)."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from importers.fields import (
    FieldError,
    clean_upper,
    luhn_check_digit,
    normalise_iccid,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    normalise_vrm,
)

IMEI = "352099001761481"
IMEI_BODY = "35209900176148"
ICCID_BODY = "894411223344556677"
ICCID = ICCID_BODY + luhn_check_digit(ICCID_BODY)

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


def test_identifiers_lose_the_neutralising_apostrophe_too() -> None:
    assert normalise_serial("'-A1") == "-A1"
    assert clean_upper("'=pn-1") == "=PN-1"


# --- fast paths: a clean cell and the same value spelt messily normalise alike, and
# a clean-looking bad value is still refused with the same message


def test_luhn_check_digit_matches_a_known_imei() -> None:
    # 49015420323751 is the textbook IMEI body; its check digit is 8.
    assert luhn_check_digit("49015420323751") == "8"
    assert luhn_check_digit("7992739871") == "3"


@pytest.mark.parametrize("messy", [f" {IMEI} ", f"'{IMEI}", f"{IMEI}.0", IMEI[:7] + " " + IMEI[7:]])
def test_a_clean_imei_and_a_messy_spelling_normalise_alike(messy: str) -> None:
    assert normalise_imei(IMEI) == normalise_imei(messy) == (IMEI, None)


def test_a_clean_looking_imei_with_a_wrong_check_digit_is_still_refused() -> None:
    wrong = IMEI_BODY + str((int(IMEI[-1]) + 1) % 10)
    with pytest.raises(FieldError, match="IMEI check digit is wrong: expected"):
        normalise_imei(wrong)


def test_a_clean_iccid_and_a_spaced_one_normalise_alike() -> None:
    assert normalise_iccid(ICCID) == normalise_iccid(f"{ICCID[:4]} {ICCID[4:]}") == ICCID
    wrong = ICCID_BODY + str((int(ICCID[-1]) + 1) % 10)
    with pytest.raises(FieldError, match="ICCID check digit is wrong"):
        normalise_iccid(wrong)


@pytest.mark.parametrize(
    "spelling",
    ["07700 900123", "07700900123", "+44 7700 900123", "+44 (0)7700 900123", "7700900123"],
)
def test_uk_mobile_spellings_normalise_alike(spelling: str) -> None:
    assert normalise_msisdn(spelling) == "+447700900123"


def test_a_uk_number_of_the_wrong_length_is_still_refused() -> None:
    with pytest.raises(FieldError, match="not a valid UK number"):
        normalise_msisdn("0770 900123")


@pytest.mark.parametrize(
    ("cell", "serial"), [("r58r12345678", "R58R12345678"), (" R58R1 ", "R58R1")]
)
def test_serials_are_upper_cased_and_trimmed(cell: str, serial: str) -> None:
    assert normalise_serial(cell) == serial


def test_a_serial_longer_than_the_limit_is_still_refused() -> None:
    with pytest.raises(FieldError, match="the limit is 64"):
        normalise_serial("A" * 65)
