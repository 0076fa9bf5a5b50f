"""Scanned codes read the way the register keeps each identifier."""

from __future__ import annotations

import pytest

from fleetsvc.errors import ValidationFailed
from fleetsvc.stocktakes.codes import read_code, read_codes


def test_a_code_is_read_as_every_identifier_it_could_be() -> None:
    imei = read_code("35 209900 176148 1")
    assert imei.imei == "352099001761481" and imei.serial is None  # a space: no serial
    serial = read_code("r58n12abcde")
    assert (serial.serial, serial.imei, serial.iccid) == ("R58N12ABCDE", None, None)
    iccid = read_code("8944100000000000125")
    assert iccid.iccid == "8944100000000000125" and iccid.imei is None
    assert read_code("FP-001234").code == "FP-001234"  # a tag keeps its case
    assert read_code("35209900176148").imei is None  # 14 digits: no check digit is guessed


def test_a_batch_is_trimmed_and_every_bad_code_named() -> None:
    assert [c.code for c in read_codes([" a1\r\n", "\tB2 "])] == ["a1", "B2"]
    with pytest.raises(ValidationFailed) as info:
        read_codes(["ok", "", "x" * 65, "a\x07b"])
    assert [p.field for p in info.value.problems] == ["codes.1", "codes.2", "codes.3"]
    with pytest.raises(ValidationFailed, match="at most 1,000"):
        read_codes(["a"] * 1001)
    with pytest.raises(ValidationFailed, match="at least one"):
        read_codes([])
