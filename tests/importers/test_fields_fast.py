"""The per-row fast paths of the normalisers give exactly what the general path gives: a clean
cell and the same value spelt messily normalise alike, and a clean-looking bad value is still
refused with the same message."""

from __future__ import annotations

import datetime as dt

import pytest

from importers.fields import (
    FieldError,
    clean_text,
    luhn_check_digit,
    normalise_iccid,
    normalise_imei,
    normalise_msisdn,
    normalise_serial,
    parse_date,
    parse_quantity,
)

IMEI_BODY = "35209900176148"
IMEI = IMEI_BODY + luhn_check_digit(IMEI_BODY)
ICCID_BODY = "894411223344556677"
ICCID = ICCID_BODY + luhn_check_digit(ICCID_BODY)


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


def test_clean_text_strips_printable_text_and_still_refuses_control_characters() -> None:
    assert clean_text("  Galaxy A32  ") == "Galaxy A32"
    assert clean_text("\u00a0Galaxy\u00a0A32 ") == "Galaxy A32"
    with pytest.raises(FieldError, match="control character"):
        clean_text("Galaxy\u202eA32")
    with pytest.raises(FieldError, match="the limit is 5"):
        clean_text("  Galaxy  ", 5)


def test_a_repeated_date_reads_the_same_and_a_bad_one_is_still_refused() -> None:
    assert parse_date("14/11/2022") == parse_date("14/11/2022") == dt.date(2022, 11, 14)
    for _ in range(2):
        with pytest.raises(FieldError, match="not a real date"):
            parse_date("31/02/2022")


def test_quantity_fast_path() -> None:
    assert parse_quantity("1") == parse_quantity(" 1 ") == 1
    with pytest.raises(FieldError):
        parse_quantity("0")
