"""Checking MDM records: normalising what a record is matched on, the reasons a record is
rejected, and ids repeated in a batch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsvc.mdm.checks import (
    DeviceRecord,
    ManagedDevice,
    _check_device,
    _usual_record,
    check_device,
    split_checked,
)


def test_check_device_normalises_what_it_matches_on() -> None:
    d = ManagedDevice(
        id=" abc ",
        serial_number=" r58r0000001 ",
        imei="35 209900 176148 1",
        compliance_state="InGracePeriod",
        last_sync_date_time="2026-10-21T20:35:00.1234567Z",
        enrolled_date_time="0001-01-01T00:00:00Z",  # the MDM's "never"
        phone_number="07700 900123",
        user_principal_name="Officer@Force.example",
    )
    r = check_device(0, d)
    assert isinstance(r, DeviceRecord)
    assert r.mdm_device_id == "abc" and r.serial_number == "R58R0000001"
    assert r.imei == "352099001761481" and r.compliance == "inGracePeriod"
    assert r.last_sync_at == dt.datetime(2026, 10, 21, 20, 35, 0, 123456, tzinfo=dt.UTC)
    assert r.enrolled_at is None and r.phone_number == "+447700900123"
    assert r.user_upn == "Officer@Force.example"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"serial_number": None}, None, "a record needs a serial number or an IMEI"),
        ({"serial_number": "R58 R00"}, "serialNumber", "contains a space"),
        ({"imei": "3.52099E+14"}, "imei", "scientific notation"),
        ({"compliance_state": "green"}, "complianceState", "must be one of: compliant"),
        ({"last_sync_date_time": "21/13/2026"}, "lastSyncDateTime", "not recognised"),
        ({"id": "x" * 65}, "id", "the limit is 64"),
        ({"device_name": "bad\x00name"}, "deviceName", "control"),
    ],
)
def test_check_device_rejects_with_a_reason(
    fields: dict[str, Any], field: str | None, message: str
) -> None:
    base: dict[str, Any] = {"id": "dev-1", "serial_number": "R58R1"}
    result = check_device(3, ManagedDevice(**{**base, **fields}))
    assert isinstance(result, list) and result
    assert result[0].field == field and result[0].index == 3
    assert message in result[0].message


def test_every_copy_of_a_repeated_id_is_rejected() -> None:
    devices = [
        ManagedDevice(id="a", serial_number="S1"),
        ManagedDevice(id="b", serial_number="S2"),
        ManagedDevice(id="a", serial_number="S3"),
    ]
    records, rejections = split_checked([check_device(i, d) for i, d in enumerate(devices)])
    assert [r.mdm_device_id for r in records] == ["b"]
    assert [(r.index, r.field) for r in rejections] == [(0, "id"), (2, "id")]


def test_a_repeated_id_is_rejected_even_when_a_copy_is_bad() -> None:
    # Once the good copy was applied: a guess at which copy is right.
    devices = [
        ManagedDevice(id="a", serial_number="S1", last_sync_date_time="2026-13-01T00:00:00Z"),
        ManagedDevice(id="a", serial_number="S1", last_sync_date_time="2026-11-01T00:00:00Z"),
    ]
    records, rejections = split_checked([check_device(i, d) for i, d in enumerate(devices)])
    assert records == []
    assert [(r.index, r.field) for r in rejections] == [(0, "lastSyncDateTime"), (1, "id")]
    assert "appears 2 times" in rejections[1].message


# The quick path for the usual record must give exactly what the full check gives; each
# field is drawn from usual values and from the quirks the full check cleans or rejects.
_TEXTS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "Android", " Android", "Android ", "a\x00b", "a\tb", "Ünïcode"]),
    st.text(max_size=8),
)
_FIELDS = {
    "id": st.one_of(
        st.none(), st.sampled_from(["dev-1", " dev-1", "", "x" * 64, "x" * 65, "a\x00"])
    ),
    "serial_number": st.one_of(
        st.none(), st.sampled_from(["R58R1", "r58r1", "", " R58R1", "R58 R1", "Ⅻ1", "3.5E+14"])
    ),
    "imei": st.one_of(
        st.none(),
        st.sampled_from(
            ["352099001761481", "352099001761482", "35209900176148", "", " ", "3.52099E+14"]
        ),
    ),
    "phone_number": st.one_of(
        st.none(),
        st.sampled_from(["+447955000001", "07955 000001", "+4479550000011", "+33612345678", ""]),
    ),
    "compliance_state": st.one_of(
        st.none(), st.sampled_from(["compliant", "Compliant", "noncompliant", " ", "green", ""])
    ),
    "last_sync_date_time": st.one_of(
        st.none(),
        st.sampled_from(
            [
                "2026-10-21T20:35:00Z",
                "2026-10-21T20:35:00.1234567Z",
                "2026-10-21T20:35:00+01:00",
                "2026-10-21T20:35:00",
                "0001-01-01T00:00:00Z",
                " 2026-10-21T20:35:00Z",
                "1900-01-01T00:00:00Z",
                "2026-13-01T00:00:00Z",
                "21/10/2026 20:35",
                "",
            ]
        ),
    ),
    "enrolled_date_time": st.sampled_from([None, "2022-12-01T09:00:00Z", "0001-01-01T00:00:00Z"]),
    "device_name": _TEXTS,
    "user_principal_name": _TEXTS,
    "operating_system": _TEXTS,
    "os_version": _TEXTS,
    "manufacturer": _TEXTS,
    "model": _TEXTS,
    "managed_device_owner_type": st.one_of(
        _TEXTS, st.sampled_from(["company", "Company", "personal", "corporate", "byod"])
    ),
}


@settings(max_examples=2000, deadline=None)
@given(st.fixed_dictionaries(_FIELDS))
def test_the_quick_path_gives_what_the_full_check_gives(fields: dict[str, Any]) -> None:
    device = ManagedDevice(**fields)
    quick = _usual_record(7, device)
    if quick is not None:
        assert quick == _check_device(7, device)
    assert check_device(7, device) == _check_device(7, device)


def test_the_usual_record_takes_the_quick_path() -> None:
    device = ManagedDevice(
        id="dev-1",
        serial_number="r58r1",
        imei="352099001761481",
        phone_number="+447955000001",
        compliance_state="compliant",
        last_sync_date_time="2026-10-21T20:35:00Z",
        enrolled_date_time="2022-12-01T09:00:00Z",
        managed_device_owner_type="company",
    )
    assert _usual_record(0, device) == _check_device(0, device)
