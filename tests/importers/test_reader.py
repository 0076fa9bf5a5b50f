"""Raw readers: format sniffing, encodings, delimiters, XLSX safety checks and row numbering."""

import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest

from importers.reader import CHUNK, FileRejected, RawRow, open_raw

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


class OneWayStream(io.RawIOBase):
    """An upload stream that cannot seek, like a request body."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def rows_of(data: bytes, filename: str = "upload.csv") -> list[RawRow]:
    return list(open_raw(io.BytesIO(data), filename).rows)


def xlsx_bytes(rows: dict[int, list[object]]) -> bytes:
    """A workbook whose first sheet has the given rows at the given row numbers."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for number, values in rows.items():
        for column, value in enumerate(values, start=1):
            sheet.cell(row=number, column=column, value=value)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rejected(data: bytes, filename: str = "upload.csv") -> str:
    with pytest.raises(FileRejected) as caught:
        rows_of(data, filename)
    return caught.value.message


# --- sniffing ------------------------------------------------------------------------------------


def test_binary_renamed_csv_is_rejected() -> None:
    data = bytes(range(256)) * 64
    assert "this is not a CSV or XLSX file" in rejected(data, "handsets.csv")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n", "empty"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        ("a,b\r\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_unusable_files_are_rejected_clearly(data: bytes, message: str) -> None:
    assert message in rejected(data)


def test_format_is_sniffed_from_content_not_name() -> None:
    as_csv = open_raw(io.BytesIO(b"a,b\r\n1,2\r\n"), "delivery.xlsx")
    assert as_csv.format == "csv"
    as_xlsx = open_raw(io.BytesIO(xlsx_bytes({1: ["a", "b"]})), "delivery.csv")
    assert as_xlsx.format == "xlsx"
    assert [row.cells for row in as_xlsx.rows] == [("a", "b")]


def test_zip_that_is_not_a_workbook_is_rejected() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "not an Excel workbook" in rejected(out.getvalue(), "order.xlsx")


def test_damaged_zip_is_rejected() -> None:
    assert "damaged" in rejected(b"PK\x03\x04" + b"garbage" * 100, "order.xlsx")


def _bomb(member_bytes: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(member_bytes >> 20):
                member.write(block)
    return out.getvalue()


def test_zip_bomb_by_compression_ratio_is_rejected() -> None:
    assert "zip bomb" in rejected(_bomb(8 << 20), "order.xlsx")


def test_zip_bomb_by_total_size_is_rejected() -> None:
    assert "more than 200 MiB" in rejected(_bomb(201 << 20), "order.xlsx")


# --- CSV encodings, delimiters, line endings -----------------------------------------------------


def test_utf8_with_bom_does_not_leak_into_first_header() -> None:
    rows = rows_of(b"\xef\xbb\xbfCDW Order #,Qty\r\nCDW1,1\r\n")
    assert rows[0].cells == ("CDW Order #", "Qty")


def test_windows_1252_pound_and_accents() -> None:
    raw = open_raw(io.BytesIO("Name,Price\r\nRené,£689.00\r\n".encode("cp1252")), "x.csv")
    assert raw.encoding == "cp1252"
    assert [row.cells for row in raw.rows][1] == ("René", "£689.00")


def test_utf8_detected() -> None:
    raw = open_raw(io.BytesIO("Name,Price\nRené,£689.00\n".encode()), "x.csv")
    assert raw.encoding == "utf-8"
    assert list(raw.rows)[1].cells == ("René", "£689.00")


def test_undecodable_byte_after_the_first_mib_names_the_line() -> None:
    line = ("é" * 40 + "\n").encode()
    body = line * (CHUNK // len(line) + 10)
    data = body + b"bad \xff byte\n"
    bad_line = body.count(b"\n") + 1
    with pytest.raises(FileRejected, match=f"line {bad_line:,} has bytes"):
        rows_of(data)


def test_windows_1252_after_a_first_mib_of_plain_ascii() -> None:
    # A long Windows-1252 file whose first accent or pound sign comes late: the first
    # non-ASCII bytes decide the encoding, wherever they are.
    line = b"R58R0000001,Galaxy A32,289.00\n"
    body = line * (CHUNK // len(line) + 10)
    data = body + "R58R0000002,Café,£289.00\n".encode("cp1252")
    rows = rows_of(data)
    assert rows[-1].cells == ("R58R0000002", "Café", "£289.00")
    assert len(rows) == body.count(b"\n") + 1


def test_utf8_after_a_first_mib_of_plain_ascii() -> None:
    line = b"R58R0000001,Galaxy A32,289.00\n"
    body = line * (CHUNK // len(line) + 10)
    data = body + "R58R0000002,Café,£289.00\n".encode()
    assert rows_of(data)[-1].cells == ("R58R0000002", "Café", "£289.00")


def test_utf8_after_a_first_mib_of_plain_ascii_then_a_bad_byte_names_the_line() -> None:
    line = b"R58R0000001,Galaxy A32,289.00\n"
    body = line * (CHUNK // len(line) + 10) + "Café\n".encode()
    tail = line * (CHUNK // len(line) + 10)
    data = body + tail + b"bad \xff byte\n"
    bad_line = (body + tail).count(b"\n") + 1
    with pytest.raises(FileRejected, match=f"line {bad_line:,} has bytes that are not valid UTF-8"):
        rows_of(data)


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
@pytest.mark.parametrize("delimiter", [b",", b";"])
def test_delimiters_and_line_endings(newline: bytes, delimiter: bytes) -> None:
    lines = [b"Serial #", b"Qty Shipped", b"Description"], [b"PF1", b"1", b'"Dock, vehicle; 12V"']
    data = b"".join(delimiter.join(line) + newline for line in lines)
    rows = rows_of(data)
    assert [row.cells for row in rows] == [
        ("Serial #", "Qty Shipped", "Description"),
        ("PF1", "1", "Dock, vehicle; 12V"),
    ]


def test_semicolon_sniffed_past_title_rows() -> None:
    data = b"Advanced Shipment Notification\r\n\r\nA;B;C\r\n1;2,5;3\r\n"
    assert rows_of(data)[-1].cells == ("1", "2,5", "3")


def test_rows_numbered_as_a_spreadsheet_shows_them() -> None:
    data = b'h1,h2\r\n\r\n"multi\r\nline",x\r\nlast,y\r\n'
    rows = rows_of(data)
    assert [(row.number, row.cells) for row in rows] == [
        (1, ("h1", "h2")),
        (2, ()),
        (3, ("multi\r\nline", "x")),
        (4, ("last", "y")),
    ]


def test_trailing_empty_columns_dropped() -> None:
    assert rows_of(b"a,b,,, \r\n1,,,,\r\n")[1].cells == ("1",)


def test_megabyte_cell_is_read_not_crashed() -> None:
    rows = rows_of(b"a,b\r\nx," + b"y" * 2_000_000 + b"\r\n")
    assert len(rows[1].cells[1]) == 2_000_000  # type: ignore[arg-type]


def test_non_seekable_streams() -> None:
    csv_rows = list(open_raw(OneWayStream(b"a,b\r\n1,2\r\n"), "x.csv").rows)  # type: ignore[arg-type]
    assert csv_rows[1].cells == ("1", "2")
    xlsx = xlsx_bytes({1: ["a"], 2: [1]})
    xlsx_rows = list(open_raw(OneWayStream(xlsx), "x.xlsx").rows)  # type: ignore[arg-type]
    assert xlsx_rows[1].cells == (1,)


# --- XLSX ----------------------------------------------------------------------------------------


def test_xlsx_row_numbers_include_gaps_and_title_rows() -> None:
    data = xlsx_bytes({1: ["Advanced Shipment Notification"], 4: ["h1", "h2"], 7: ["v1", "v2"]})
    rows = rows_of(data, "x.xlsx")
    assert [(row.number, row.cells) for row in rows if row.cells] == [
        (1, ("Advanced Shipment Notification",)),
        (4, ("h1", "h2")),
        (7, ("v1", "v2")),
    ]


def test_xlsx_cell_types_arrive_as_python_values() -> None:
    data = xlsx_bytes({1: [352099001761481, dt.datetime(2021, 11, 22), 689.5, "text", None, None]})
    (row,) = rows_of(data, "x.xlsx")
    assert row.cells == (352099001761481, dt.datetime(2021, 11, 22), 689.5, "text")


def test_sample_xlsx_has_title_rows_and_excel_dates() -> None:
    rows = rows_of((SAMPLES / "cdw-asn.xlsx").read_bytes(), "cdw-asn.xlsx")
    assert rows[3].number == 4 and rows[3].cells[0] == "CDW Order #"
    assert rows[4].cells[2] == dt.datetime(2021, 11, 22)
