"""Header detection, row parsing, row rules, profiles, and the sample files end to end."""

import datetime as dt
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from importers import (
    FileRejected,
    ParsedFile,
    ParsedRow,
    Profile,
    ProfileError,
    builtin_profiles,
    detect_profile,
    get_profile,
    load_profile,
    luhn_check_digit,
    parse_file,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
REPO = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO / "importers" / "profiles"

VODAFONE_HEADER = (
    "Despatch Date,Vodafone Order No,Customer PO,Delivery Note,Product Code,"
    "Product Description,IMEI,Serial Number,SIM ICCID,MSISDN,Quantity"
)
VODAFONE_ROW = (
    "14/11/2022,VF-ORD-880000,4500071322,DN700000,SM-A325FZKGEUB,"
    "Samsung Galaxy A32,{imei},R58R0000000,8944100000000000018,07955 000000,1"
)
CDW_HEADER = (
    "CDW Order #,Customer PO #,Ship Date,Manufacturer,Mfr Part #,CDW Part #,Description,"
    "Serial #,Qty Shipped,Unit Price (GBP),Licence Key"
)
CDW_ROW = (
    "CDW1,4500061069,22/11/2021,Panasonic,FZ-L1AHAABVB,6600000,Toughpad,"
    "{serial},{qty},£689.00,{key}"
)
BABCOCK_HEADER = (
    "Job Reference,Completion Date,Fleet Number,VRM,Vehicle,Workshop,Tablet Serial,"
    "Dock Serial,Engineer ID,Job Status,Comments"
)


def vodafone_row(imei: str = "352099110000003") -> str:
    return VODAFONE_ROW.format(imei=imei)


def cdw_row(serial: str = "PF0000000X", qty: str = "1", key: str = "") -> str:
    return CDW_ROW.format(serial=serial, qty=qty, key=key)


def babcock_row(
    status: str = "Completed", tablet: str = "PF0000000X", date: str = "01/12/2021"
) -> str:
    return f"BAB-1,{date},00001,bx21 aaa,BMW 330e,Park Royal,{tablet},DK0000004,E1000,{status},"


def parse(
    lines: list[str], profile: str = "vodafone-despatch", **kwargs: int
) -> tuple[ParsedFile, list[ParsedRow]]:
    data = "\r\n".join(lines).encode() + b"\r\n"
    parsed = parse_file(io.BytesIO(data), "upload.csv", get_profile(profile), **kwargs)
    return parsed, list(parsed)


def rejection(lines: list[str], profile: str = "vodafone-despatch") -> str:
    with pytest.raises(FileRejected) as caught:
        parse(lines, profile)
    return caught.value.message


def messages(rows: list[ParsedRow]) -> list[str]:
    return [issue.message for row in rows for issue in row.errors]


# --- the sample files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "profile", "count"),
    [
        ("vodafone-despatch.csv", "vodafone-despatch", 12),
        ("cdw-asn.csv", "cdw-asn", 11),
        ("cdw-asn.xlsx", "cdw-asn", 11),
        ("babcock-install.csv", "babcock-install", 6),
        ("intune-devices.csv", "intune-devices", 13),
    ],
)
def test_samples_parse_without_errors(sample: str, profile: str, count: int) -> None:
    with (SAMPLES / sample).open("rb") as stream:
        parsed = parse_file(stream, sample, get_profile(profile))
        rows = list(parsed)
    assert len(rows) == count
    assert [issue for row in rows for issue in row.errors + row.warnings] == []
    assert parsed.file_warnings == []


def test_xlsx_sample_header_on_row_4_and_data_from_row_5() -> None:
    with (SAMPLES / "cdw-asn.xlsx").open("rb") as stream:
        parsed = parse_file(stream, "cdw-asn.xlsx", get_profile("cdw-asn"))
        rows = list(parsed)
    assert parsed.header_row == 4 and parsed.format == "xlsx"
    assert [row.row for row in rows] == list(range(5, 16))
    first, licence = rows[0], rows[-1]
    assert first.values["delivered_on"] == dt.date(2021, 11, 22)  # an Excel date cell
    assert first.values["unit_cost"] == Decimal("689.00")
    assert first.values["serial_number"] == "PF0000000X"
    assert licence.values["serial_number"] is None
    assert licence.values["licence_key"] == "NMX-7Q2P-44KD-9ZZA"
    assert licence.values["quantity"] == 250


def test_sample_values_are_typed() -> None:
    with (SAMPLES / "vodafone-despatch.csv").open("rb") as stream:
        row = next(iter(parse_file(stream, "v.csv", get_profile("vodafone-despatch"))))
    assert row.row == 2
    assert row.values["delivered_on"] == dt.date(2022, 11, 14)
    assert row.values["msisdn"] == "+447955000000"
    assert row.values["quantity"] == 1
    assert row.raw["msisdn"] == "07955 000000"


def test_intune_sample_typed_values() -> None:
    with (SAMPLES / "intune-devices.csv").open("rb") as stream:
        row = next(iter(parse_file(stream, "i.csv", get_profile("intune-devices"))))
    assert row.values["last_check_in_at"] == dt.datetime(2026, 10, 21, 20, 35, tzinfo=dt.UTC)
    assert row.values["compliance"] == "compliant"
    assert row.values["ownership"] == "corporate"


@pytest.mark.parametrize(
    "sample", ["vodafone-despatch.csv", "cdw-asn.csv", "babcock-install.csv", "intune-devices.csv"]
)
def test_detect_profile_on_sample_headers(sample: str) -> None:
    header = (SAMPLES / sample).read_text(encoding="utf-8").splitlines()[0].split(",")
    assert detect_profile(header) == sample.removesuffix(".csv")
    assert detect_profile(["Name", "Colour"]) is None


# --- quirk 1: encodings, delimiters, line endings ------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_encodings_delimiters_line_endings(encoding: str, delimiter: str, newline: str) -> None:
    lines = [CDW_HEADER, cdw_row().replace("Toughpad", "Toughpad Café")]
    if delimiter == ";":
        lines = [line.replace(",", ";") for line in lines]
    data = newline.join(lines).encode(encoding)
    (row,) = parse_file(io.BytesIO(data), "x.csv", get_profile("cdw-asn"))
    assert row.errors == []
    assert row.values["description"] == "Toughpad Café"
    assert row.values["unit_cost"] == Decimal("689.00")


def test_undecodable_byte_later_in_file_rejects_naming_the_line() -> None:
    data = (VODAFONE_HEADER + "\r\n" + vodafone_row() + "\r\n").encode() * 1
    data += ((vodafone_row() + "\r\n").encode()) * 9000 + b"\x81\r\n"
    parsed = parse_file(io.BytesIO(data), "x.csv", get_profile("vodafone-despatch"))
    with pytest.raises(FileRejected, match="line 9,003"):
        list(parsed)


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


# --- quirk 3: Excel-mangled numbers --------------------------------------------------------------


def test_mangled_imeis_recovered() -> None:
    spellings = ["352099001761481.0", "'352099001761481", "35 209900 176148 1"]
    _, rows = parse([VODAFONE_HEADER, *(vodafone_row(s) for s in spellings)])
    assert [row.values["imei"] for row in rows] == ["352099001761481"] * 3
    assert all(row.ok and not row.warnings for row in rows)


def test_scientific_imei_is_a_row_error_with_column_value_and_message() -> None:
    _, rows = parse([VODAFONE_HEADER, vodafone_row(), vodafone_row("3.52099E+14")])
    (error,) = rows[1].errors
    assert (error.row, error.column, error.value, error.severity) == (
        3,
        "IMEI",
        "3.52099E+14",
        "error",
    )
    assert (
        error.message
        == "IMEI is in scientific notation; digits were lost — re-export the column as text"
    )
    assert rows[1].values["imei"] is None and rows[1].raw["imei"] == "3.52099E+14"


def test_fourteen_digit_imei_is_completed_with_a_warning() -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row("35209900176148")])
    assert row.ok and row.values["imei"] == "352099001761481"
    (warning,) = row.warnings
    assert (
        warning.severity == "warning"
        and warning.column == "IMEI"
        and "check digit 1" in warning.message
    )


def test_short_iccid_is_rejected() -> None:
    line = vodafone_row().replace("8944100000000000018", "894410000000000001")
    _, (row,) = parse([VODAFONE_HEADER, line])
    assert messages([row]) == ["ICCID must be 19 or 20 digits; this has 18"]


def test_numeric_xlsx_cells_are_recovered_exactly() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(CDW_HEADER.split(","))
    sheet.append(
        ["CDW1", 4500061069, 44522, "Panasonic", "FZ-1", 6600000, "Tab", 12345678, 1.0, 689.5, None]
    )
    sheet.append(
        [
            "CDW1",
            4500061069.0,
            dt.datetime(2021, 11, 22),
            "Havis",
            "DS-1",
            1,
            "Dock",
            "DK1",
            1,
            0.1,
            None,
        ]
    )
    out = io.BytesIO()
    workbook.save(out)
    rows = list(parse_file(io.BytesIO(out.getvalue()), "c.xlsx", get_profile("cdw-asn")))
    assert messages(rows) == []
    assert rows[0].values["po_number"] == rows[1].values["po_number"] == "4500061069"
    assert rows[0].values["delivered_on"] == rows[1].values["delivered_on"] == dt.date(2021, 11, 22)
    assert rows[0].values["serial_number"] == "12345678"
    assert rows[0].values["unit_cost"] == Decimal("689.50")
    assert rows[1].values["unit_cost"] == Decimal("0.10")


# --- quirks 4-6: dates, money, MSISDN in rows ----------------------------------------------------


@pytest.mark.parametrize(
    "date", ["03/01/2023", "2023-01-03", "3-Jan-23", "03 January 2023", "44929"]
)
def test_date_spellings_in_a_file(date: str) -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row().replace("14/11/2022", date)])
    assert row.values["delivered_on"] == dt.date(2023, 1, 3)


@pytest.mark.parametrize("date", ["31/02/2023", "2023-13-01", "01/02"])
def test_impossible_dates_are_row_errors(date: str) -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row().replace("14/11/2022", date)])
    assert row.errors[0].column == "Despatch Date" and "DD/MM/YYYY" in row.errors[0].message


@pytest.mark.parametrize("price", ['"£1,234.50"', "1234.5", '"1,234.50 GBP"'])
def test_money_spellings_in_a_file(price: str) -> None:
    _, (row,) = parse([CDW_HEADER, cdw_row().replace("£689.00", price)], "cdw-asn")
    assert row.values["unit_cost"] == Decimal("1234.50")


@pytest.mark.parametrize(
    "msisdn", ["07700 900123", "+44 7700 900123", "447700900123", "7700900123"]
)
def test_msisdn_spellings_in_a_file(msisdn: str) -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row().replace("07955 000000", msisdn)])
    assert row.values["msisdn"] == "+447700900123"


# --- quirk 7: blank rows, totals, trailing columns -----------------------------------------------


def test_blank_rows_anywhere_are_skipped_and_counted() -> None:
    parsed, rows = parse(["", VODAFONE_HEADER, "", vodafone_row(), ",,,", "  ", vodafone_row()])
    assert [row.row for row in rows] == [4, 7]
    assert parsed.header_row == 2
    assert parsed.skipped.blank == 3  # blank rows above the header are title rows, not counted


def test_totals_row_is_skipped_with_a_warning() -> None:
    parsed, rows = parse([CDW_HEADER, cdw_row(), cdw_row("PF1"), "TOTAL,,,,,,,,2,,"], "cdw-asn")
    assert [row.row for row in rows] == [2, 3]
    assert parsed.skipped.totals == 1
    assert [(w.row, w.message) for w in parsed.file_warnings] == [
        (4, "this looks like a totals row; the row was skipped")
    ]


def test_a_row_starting_total_that_has_a_serial_is_an_item() -> None:
    parsed, rows = parse([CDW_HEADER, "Grand total" + cdw_row()[4:]], "cdw-asn")
    assert len(rows) == 1 and parsed.skipped.totals == 0


def test_trailing_empty_columns_are_ignored() -> None:
    parsed, rows = parse([VODAFONE_HEADER + ",,,", vodafone_row() + ",,,"])
    assert rows[0].ok and parsed.file_warnings == []


# --- quirk 8: the same row twice -----------------------------------------------------------------


def test_duplicate_rows_are_both_yielded_for_the_service_to_deduplicate() -> None:
    _, rows = parse([VODAFONE_HEADER, vodafone_row(), vodafone_row()])
    assert [row.row for row in rows] == [2, 3] and all(row.ok for row in rows)
    assert rows[0].values == rows[1].values


def test_a_cell_repeated_row_after_row_reads_as_it_does_alone() -> None:
    # A column's value is reused while its text repeats (the parser is not called again):
    # its warning is repeated, an error is never taken for a value, and a change is read.
    def row(date: str, imei: str) -> str:
        return vodafone_row(imei).replace("14/11/2022", date, 1)

    lines = [
        row("14/11/2022", "35209900176148"),
        row("14/11/2022", "35209900176148"),
        row("31/02/2022", "352099001761481"),
        row("31/02/2022", "352099001761481"),
        row("15/11/2022", "3.52099E+14"),
        row("15/11/2022", "35209900176148"),
    ]
    _, rows = parse([VODAFONE_HEADER, *lines])
    alone = [parse([VODAFONE_HEADER, line])[1][0] for line in lines]
    for together, single in zip(rows, alone, strict=True):
        assert together.values == single.values and together.raw == single.raw
        assert [(i.column, i.value, i.message) for i in together.errors] == [
            (i.column, i.value, i.message) for i in single.errors
        ]
        assert [(i.column, i.value, i.message) for i in together.warnings] == [
            (i.column, i.value, i.message) for i in single.warnings
        ]
    assert [len(r.warnings) for r in rows] == [1, 1, 0, 0, 0, 1]
    assert [len(r.errors) for r in rows] == [0, 0, 1, 1, 1, 0]
    assert rows[5].values["delivered_on"] == dt.date(2022, 11, 15)


# --- quirk 10: hostile content -------------------------------------------------------------------


def test_formula_like_cells_are_kept_as_plain_text() -> None:
    line = cdw_row().replace("Toughpad", '=HYPERLINK("http://x";"y")'.replace('"', '""'))
    line = line.replace('=HYPERLINK(""http://x"";""y"")', '"=HYPERLINK(""http://x"";""y"")"')
    _, rows = parse([CDW_HEADER, line, cdw_row(key="@SUM(1)", serial="PF1")], "cdw-asn")
    assert all(row.ok for row in rows)
    assert rows[0].values["description"] == '=HYPERLINK("http://x";"y")'
    assert rows[1].values["licence_key"] == "@SUM(1)"


def test_control_characters_are_a_row_error() -> None:
    _, (row,) = parse([CDW_HEADER, cdw_row().replace("Toughpad", "Tough\x07pad")], "cdw-asn")
    (error,) = row.errors
    assert error.column == "Description" and "control character (U+0007)" in error.message


def test_megabyte_cell_is_a_row_error() -> None:
    _, rows = parse(
        [CDW_HEADER, cdw_row().replace("Toughpad", "x" * 2_000_000), cdw_row("PF1")], "cdw-asn"
    )
    (error,) = rows[0].errors
    assert error.message == "cell is 2,000,000 characters; the limit is 10,000"
    assert len(error.value or "") == 200 and len(rows[0].raw["description"]) == 10_000
    assert rows[1].ok


def test_binary_file_renamed_csv_is_rejected() -> None:
    with pytest.raises(FileRejected, match="this is not a CSV or XLSX file"):
        parse_file(
            io.BytesIO(bytes(range(256)) * 100), "handsets.csv", get_profile("vodafone-despatch")
        )


# --- row rules -----------------------------------------------------------------------------------


def test_cdw_rules() -> None:
    lines = [
        CDW_HEADER,
        cdw_row(serial="", key="NMX-1", qty="250"),  # licence seats
        cdw_row(serial="", key=""),  # neither
        cdw_row(serial="PF1", qty="2"),  # serialised but two items
    ]
    _, rows = parse(lines, "cdw-asn")
    assert rows[0].ok and rows[0].values["quantity"] == 250
    assert messages([rows[1]]) == ["the row has neither a Serial # nor a Licence Key"]
    (error,) = rows[2].errors
    assert error.column == "Qty Shipped" and error.value == "2" and "must be 1" in error.message


def test_vodafone_quantity_must_be_one() -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row()[:-1] + "3"])
    assert messages([row]) == ["Quantity must be 1: a despatch row is one handset"]


def test_babcock_status_and_rules() -> None:
    lines = [
        BABCOCK_HEADER,
        babcock_row("COMPLETED"),
        babcock_row("aborted", tablet="", date=""),
        babcock_row("Completed", tablet=""),
        babcock_row("Done"),
    ]
    _, rows = parse(lines, "babcock-install")
    assert (
        rows[0].ok
        and rows[0].values["job_status"] == "completed"
        and rows[0].values["vrm"] == "BX21AAA"
    )
    assert rows[0].values["fleet_number"] == "00001"  # text: leading zeros kept
    assert rows[1].ok and rows[1].values["job_status"] == "aborted"
    assert messages([rows[2]]) == ["Tablet Serial is required when Job Status is completed"]
    assert messages([rows[3]]) == ["must be one of: aborted, completed, deferred"]


def test_required_value_missing() -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row("")])
    (error,) = row.errors
    assert (error.column, error.message) == ("IMEI", "a value is required")


# --- MDM rows ------------------------------------------------------------------------------------


def test_intune_blank_identifiers_are_tolerated_and_errors_hold_only_the_cell() -> None:
    lines = (SAMPLES / "intune-devices.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    for name in ("IMEI", "Serial number", "Phone number", "ICCID"):
        cells[header.index(name)] = ""
    bad = lines[1].split(",")
    bad[header.index("Compliance")] = "Sort of"
    _, rows = parse([lines[0], ",".join(cells), ",".join(bad)], "intune-devices")
    assert rows[0].ok and rows[0].values["imei"] is None and rows[0].values["phone_number"] is None
    (error,) = rows[1].errors
    assert error.value == "Sort of" and error.column == "Compliance"
    assert "officer" not in error.message  # no personal data from other cells


# --- streaming -----------------------------------------------------------------------------------


def test_parse_is_lazy() -> None:
    data = (VODAFONE_HEADER + "\r\n" + (vodafone_row() + "\r\n") * 40_000).encode()
    stream = io.BytesIO(data)
    parsed = parse_file(stream, "v.csv", get_profile("vodafone-despatch"))
    first = next(iter(parsed))
    assert first.row == 2 and stream.tell() < len(data)  # the rest is still unread
    with pytest.raises(RuntimeError, match="only once"):
        iter(parsed).__next__()


# Runs in a fresh interpreter so the peak resident memory of the parse itself can be measured
# (tracemalloc would slow the parse several times over and miss the C-level buffers).
_STREAM_CHILD = """
import resource, sys, time
from pathlib import Path
from importers import get_profile, parse_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
with Path(sys.argv[1]).open("rb") as stream:
    parsed = parse_file(stream, "big.csv", get_profile("vodafone-despatch"))
    good = sum(1 for row in parsed if row.ok)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(good, parsed.data_rows, (after - before) * 1024, time.perf_counter() - started)
"""


def test_200k_row_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(VODAFONE_HEADER + "\r\n")
        for number in range(200_000):
            body = f"35209911{number:06d}"
            out.write(vodafone_row(body + luhn_check_digit(body)) + "\r\n")
    assert path.stat().st_size > 25_000_000
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", _STREAM_CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    good, total, peak_growth, seconds = result.stdout.split()
    assert int(good) == int(total) == 200_000
    assert int(peak_growth) < 30 * 1024 * 1024, f"peak grew by {int(peak_growth) / 1e6:.1f} MB"
    print(f"200,000 rows in {float(seconds):.1f} s")


# --- profiles ------------------------------------------------------------------------------------


def test_builtin_profiles_are_the_five_toml_files() -> None:
    profiles = builtin_profiles()
    assert set(profiles) == {
        "vodafone-despatch",
        "cdw-asn",
        "babcock-install",
        "intune-devices",
        "hr-people",
    }
    assert {path.stem for path in PROFILE_DIR.glob("*.toml")} == set(profiles)
    assert profiles["cdw-asn"].formats == ("csv", "xlsx")
    assert {p.kind for p in profiles.values()} == {"delivery", "install", "mdm", "people"}


def test_a_profile_can_be_added_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "acme.toml").write_text(
        'name = "acme-despatch"\ndescription = "Acme"\nkind = "delivery"\n'
        '[[fields]]\nname = "serial_number"\naliases = ["S/N", "Serial"]\nparser = "serial"\n'
        "required_column = true\nrequired_value = true\n"
    )
    profile = get_profile("acme-despatch", [tmp_path])
    assert isinstance(profile, Profile) and profile.formats == ("csv",)
    rows = list(parse_file(io.BytesIO(b"s/n\r\nab1\r\n"), "a.csv", profile))
    assert rows[0].values == {"serial_number": "AB1"}


def test_unknown_profile() -> None:
    with pytest.raises(
        ProfileError, match="unknown import profile 'nope'; known profiles: babcock-install"
    ):
        get_profile("nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = ", "not valid TOML"),
        ('name = "x"\ndescription = "d"\nkind = "other"', "kind must be one of"),
        ('name = "x"\ndescription = "d"\nkind = "mdm"\nfields = []', "at least one [[fields]]"),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "magic"\nrequired_column = true',
            "unknown parser 'magic'",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "text"\nrequired_column = true\n[[fields]]\nname = "b"\naliases = [" a "]\n'
            'parser = "text"',
            "alias of both a and b",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "text"\nrequired_column = true\n[[rules]]\nkind = "one_of"\nfields = ["zz"]',
            "unknown field 'zz'",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\n[[fields]]\nname = "a"\naliases = ["A"]\n'
            'parser = "enum"\nrequired_column = true',
            "choices are needed",
        ),
        (
            'name = "x"\ndescription = "d"\nkind = "mdm"\ncolour = "red"\n[[fields]]\nname = "a"\n'
            'aliases = ["A"]\nparser = "text"\nrequired_column = true',
            "unknown profile key(s): colour",
        ),
    ],
)
def test_bad_profile_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert message in caught.value.message and str(path) in caught.value.message
