"""Header rows: found under title rows, in any case and order, repeated mid-file, missing
or of another profile (importers/header.py, and the repeated headers ParsedFile follows)."""

import datetime as dt
import io

import openpyxl
import pytest

from importers import (
    FileRejected,
    get_profile,
    parse_file,
)
from tests.importers.files import (
    CDW_HEADER,
    SAMPLES,
    VODAFONE_HEADER,
    cdw_row,
    messages,
    parse,
    rejection,
    vodafone_row,
)

# --- quirk 2: headers ----------------------------------------------------------------------------


def test_headers_any_case_padded_nbsp_any_order_extra_columns() -> None:
    header = [f"  {name.upper()}\u00a0 " for name in VODAFONE_HEADER.split(",")]
    values = vodafone_row().split(",")
    order = list(reversed(range(len(header))))
    lines = [
        ",".join([header[i] for i in order] + ["Warehouse", "Picker"]),
        ",".join([values[i] for i in order] + ["Leeds", "Sam"]),
    ]
    parsed, rows = parse(lines)
    assert rows[0].errors == []
    assert rows[0].values["imei"] == "352099110000003"
    assert parsed.columns["imei"] == "IMEI"  # the header text as in the file, tidied
    assert [issue.message for issue in parsed.file_warnings] == [
        "columns not used by vodafone-despatch were ignored: Warehouse, Picker"
    ]


def test_repeated_whitespace_inside_a_header_is_ignored() -> None:
    _, rows = parse([VODAFONE_HEADER.replace("Despatch Date", "Despatch   Date"), vodafone_row()])
    assert rows[0].values["delivered_on"] == dt.date(2022, 11, 14)


def test_title_rows_above_the_header_in_csv() -> None:
    parsed, rows = parse(
        ["Advanced Shipment Notification", "Customer: MPS", "", CDW_HEADER, cdw_row()], "cdw-asn"
    )
    assert parsed.header_row == 4
    assert [row.row for row in rows] == [5]


def test_repeated_header_mid_file_is_skipped_with_a_warning() -> None:
    parsed, rows = parse([VODAFONE_HEADER, vodafone_row(), VODAFONE_HEADER.lower(), vodafone_row()])
    assert [row.row for row in rows] == [2, 4]
    assert parsed.skipped.repeated_header == 1
    (warning,) = parsed.file_warnings
    assert warning.row == 3 and "header row is repeated" in warning.message


def _reordered(line: str) -> str:
    """A Vodafone line with Vodafone Order No and Delivery Note swapped (columns 2 and 4)."""
    cells = line.split(",")
    cells[1], cells[3] = cells[3], cells[1]
    return ",".join(cells)


def test_header_repeated_with_its_columns_in_another_order_is_followed() -> None:
    # Two files pasted together, the second saved with two text columns swapped: its rows
    # must not be read by the first header (the references would be swapped, silently).
    parsed, rows = parse(
        [
            VODAFONE_HEADER,
            vodafone_row(),
            _reordered(VODAFONE_HEADER),
            _reordered(vodafone_row("352099110000011")),
        ]
    )
    assert [row.row for row in rows] == [2, 4] and messages(rows) == []
    assert rows[1].values["supplier_order_ref"] == "VF-ORD-880000"
    assert rows[1].values["delivery_ref"] == "DN700000"
    assert parsed.skipped.repeated_header == 1
    (warning,) = parsed.file_warnings
    assert warning.row == 3 and "its columns in another order" in warning.message


def test_header_repeated_with_an_extra_unused_column_is_skipped() -> None:
    parsed, rows = parse(
        [VODAFONE_HEADER, vodafone_row(), VODAFONE_HEADER + ",Picker", vodafone_row() + ",Sam"]
    )
    assert [row.row for row in rows] == [2, 4] and messages(rows) == []
    assert parsed.skipped.repeated_header == 1


def test_header_repeated_with_other_fields_rejects_the_file() -> None:
    other = VODAFONE_HEADER.replace(",MSISDN", "")
    message = rejection([VODAFONE_HEADER, vodafone_row(), other, vodafone_row()])
    assert message.startswith("row 3 is another header row, with other columns than the header")
    assert "(differing: MSISDN)" in message and "upload them separately" in message


def test_value_under_no_header_rejects_the_row() -> None:
    # An unquoted comma in the last column pushes a value past the header: that value would
    # be dropped, and the row's other values are in doubt.
    cdw = [CDW_HEADER, cdw_row(), cdw_row(serial="", qty="250", key="NMX-1,2")]
    _, rows = parse(cdw, "cdw-asn")
    assert rows[0].errors == []
    (error,) = rows[1].errors
    assert (error.row, error.column, error.value) == (3, None, "2")
    assert error.message.startswith("column L has a value but no header")
    # A column with no header in the middle of the file is looked at too.
    header = VODAFONE_HEADER.replace("Quantity", "Quantity,,Notes")
    _, rows = parse([header, vodafone_row() + ",,fine", vodafone_row() + ",odd,"])
    assert rows[0].errors == []
    (error,) = rows[1].errors
    assert error.value == "odd" and error.message.startswith("column L has a value but no header")


def test_trailing_empty_columns_and_a_totals_count_past_the_header_are_fine() -> None:
    _, rows = parse([VODAFONE_HEADER, vodafone_row() + ",,,", "Total,,,,,,,,,,,1"])
    assert [row.row for row in rows] == [2] and rows[0].errors == []


def test_missing_required_columns_are_named() -> None:
    header = VODAFONE_HEADER.replace("Customer PO,", "").replace("IMEI,", "")
    message = rejection([header, "x"])
    assert message == "the header on row 1 is missing required columns: Customer PO, IMEI"


def test_wrong_profile_says_what_the_file_looks_like() -> None:
    message = rejection([CDW_HEADER, cdw_row()], "vodafone-despatch")
    assert "this looks like a cdw-asn file" in message


def test_xlsx_of_another_profile_says_what_it_looks_like() -> None:
    with (SAMPLES / "cdw-asn.xlsx").open("rb") as stream, pytest.raises(FileRejected) as caught:
        parse_file(stream, "cdw-asn.xlsx", get_profile("babcock-install"))
    assert "this looks like a cdw-asn file (header on row 4)" in caught.value.message


def test_no_header_at_all() -> None:
    assert "no header row for babcock-install" in rejection(["a,b,c", "1,2,3"], "babcock-install")


def test_header_beyond_row_50_is_not_found() -> None:
    assert "no header row" in rejection(["title"] * 50 + [VODAFONE_HEADER, vodafone_row()])


def test_two_columns_for_one_field_is_rejected() -> None:
    header = VODAFONE_HEADER + ",Dispatch Date"
    assert "both hold Despatch Date" in rejection([header, vodafone_row() + ",15/11/2022"])


def test_xlsx_for_a_csv_only_profile_is_rejected() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(VODAFONE_HEADER.split(","))
    out = io.BytesIO()
    workbook.save(out)
    with pytest.raises(FileRejected, match="must be CSV; this is XLSX"):
        parse_file(io.BytesIO(out.getvalue()), "v.xlsx", get_profile("vodafone-despatch"))
