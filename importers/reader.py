"""Readers that stream uploaded CSV or XLSX bytes as raw rows, numbered as a spreadsheet shows them.

The format is sniffed from the content, never from the file name.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, TYPE_CHECKING, BinaryIO, Final, Literal

from importers.fields import CellValue

if TYPE_CHECKING:
    import openpyxl  # type: ignore[import-untyped,unused-ignore]

CHUNK: Final = 1 << 20  # encoding and delimiter are sniffed from the first MiB
MAX_XLSX_UNCOMPRESSED: Final = 200 << 20
MAX_COMPRESSION_RATIO: Final = 100
# Small members of a genuine workbook (styles, a short sheet) can compress beyond 100:1 and
# cannot hurt; the ratio rule is for members big enough to matter.
RATIO_CHECK_MIN_BYTES: Final = 1 << 20
CSV_FIELD_LIMIT: Final = 16 << 20  # larger than any cell we accept, so big cells are row errors
MAX_LINE_CHARS: Final = 32 << 20
SPOOL_IN_MEMORY: Final = 8 << 20

Format = Literal["csv", "xlsx"]
NOT_CSV_OR_XLSX: Final = "this is not a CSV or XLSX file"


class FileRejected(Exception):
    """The whole file is unusable; the message says why, for a stores clerk."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class RawRow:
    """One spreadsheet row: its 1-based number and its cells, trailing empty cells dropped."""

    number: int
    cells: tuple[CellValue, ...]


@dataclass
class RawFile:
    """A sniffed file: its format, how it was decoded, and its rows (a one-pass iterator)."""

    format: Format
    rows: Iterator[RawRow]
    encoding: str | None = None
    delimiter: str | None = None


def open_raw(stream: BinaryIO, filename: str = "") -> RawFile:
    """Sniff the file and return a streaming reader of its rows; FileRejected if unusable.

    filename is only used in messages: the content decides the format.
    """
    start = stream.tell() if stream.seekable() else 0
    head = stream.read(CHUNK)
    if not head.strip():
        raise FileRejected("the file is empty")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _open_xlsx(_seekable(stream, head, start))
    _reject_binary(head, filename)
    return _open_csv(head, stream)


def trim(cells: Iterable[CellValue]) -> tuple[CellValue, ...]:
    """Cells without the empty ones at the end (trailing empty columns are noise)."""
    row = cells if isinstance(cells, tuple) else tuple(cells)
    end = len(row)
    while end and (row[end - 1] is None or _is_blank_text(row[end - 1])):
        end -= 1
    return row if end == len(row) else row[:end]


def _is_blank_text(cell: CellValue) -> bool:
    return isinstance(cell, str) and (not cell or cell.isspace())


# --- sniffing ------------------------------------------------------------------------------------

_BINARY_SIGNATURES: Final = {
    b"\xd0\xcf\x11\xe0": "this is an old-style Excel .xls file; save it as .xlsx or CSV",
    b"%PDF": "this is a PDF, not a CSV or XLSX file",
}


_CONTROL_BYTES: Final = bytes(byte for byte in range(32) if byte not in (9, 10, 12, 13))


def _reject_binary(head: bytes, filename: str) -> None:
    for signature, message in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise FileRejected(message)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected(
            "this file is UTF-16 text (Excel's 'Unicode Text'); save it as 'CSV UTF-8' instead"
        )
    # Text never contains NUL; other control bytes (not tab/CR/LF/form feed) are rare in text.
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if b"\x00" in head or controls > len(head) // 100:
        name = f" ({filename})" if filename else ""
        raise FileRejected(f"{NOT_CSV_OR_XLSX}{name}")


def _seekable(stream: BinaryIO, head: bytes, start: int) -> IO[bytes]:
    """The whole file as a seekable stream (zipfile needs to seek), spooling if necessary."""
    if stream.seekable():
        stream.seek(start)
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
    spool.write(head)
    shutil.copyfileobj(stream, spool)
    spool.seek(0)
    return spool


# --- CSV -----------------------------------------------------------------------------------------


def _open_csv(head: bytes, stream: BinaryIO) -> RawFile:
    at_end = len(head) < CHUNK
    encoding = _sniff_encoding(head, at_end)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        first_text = decoder.decode(head, final=at_end)
    except UnicodeDecodeError as exc:
        raise _undecodable(head, exc, 0, encoding) from None
    delimiter = _sniff_delimiter(first_text)
    # Plain ASCII decides nothing: the first non-ASCII bytes, wherever they are, choose
    # between UTF-8 and Windows-1252, as they would have in a file shorter than a MiB.
    undecided = not at_end and encoding == "utf-8" and head.isascii()
    text = _decoded_chunks(first_text, head, stream, decoder, encoding, at_end, undecided)
    return RawFile("csv", CsvRecords(_lines(text), delimiter), encoding, delimiter)


def _sniff_encoding(head: bytes, at_end: bool) -> str:
    """utf-8-sig with a BOM; else UTF-8 if the first MiB decodes as UTF-8; else Windows-1252.

    A first MiB of plain ASCII is provisionally UTF-8 (see _decoded_chunks).
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=at_end)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _undecodable(
    data: bytes, exc: UnicodeDecodeError, lines_before: int, encoding: str
) -> FileRejected:
    line = lines_before + data[: max(exc.start, 0)].count(b"\n") + 1
    what = "UTF-8" if encoding.startswith("utf-8") else "Windows-1252"
    return FileRejected(
        f"line {line:,} has bytes that are not valid {what} text; "
        "save the file as 'CSV UTF-8' and upload it again"
    )


def _decoded_chunks(
    first_text: str,
    head: bytes,
    stream: BinaryIO,
    decoder: codecs.IncrementalDecoder,
    encoding: str,
    at_end: bool,
    undecided: bool = False,
) -> Iterator[str]:
    yield first_text
    lines_before = head.count(b"\n")
    while not at_end:
        chunk = stream.read(CHUNK)
        at_end = not chunk
        if undecided and not chunk.isascii():
            undecided = False
            try:
                # Everything before was ASCII, so the UTF-8 decoder holds no pending bytes
                # and either encoding reads what came before the same way.
                codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
            except UnicodeDecodeError:
                encoding = "cp1252"
                decoder = codecs.getincrementaldecoder(encoding)()
        try:
            yield decoder.decode(chunk, final=at_end)
        except UnicodeDecodeError as exc:
            raise _undecodable(chunk, exc, lines_before, encoding) from None
        lines_before += chunk.count(b"\n")


def _lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines ending in \\n (or \\r\\n) as the csv module wants them; only \\n splits a line.

    str.splitlines() is not used: it would also split on characters inside cells
    (form feed, U+2028 and friends). A StringIO whose newline is "\\n" splits on "\\n" alone,
    in C, and leaves "\\r" as it is.
    """
    pending = ""
    for chunk in chunks:
        cut = chunk.rfind("\n") + 1
        if not cut:
            pending += chunk
            if len(pending) > MAX_LINE_CHARS:
                raise FileRejected("the file has a line longer than 32 MiB; it is not a usable CSV")
            continue
        yield from io.StringIO(pending + chunk[:cut], newline="\n")
        pending = chunk[cut:]
    if pending:
        yield pending


def _sniff_delimiter(text: str) -> str:
    """Comma or semicolon: whichever splits the first rows into more columns (ties: comma)."""
    sample = text.split("\n", 50)[:50]

    def widest(delimiter: str) -> int:
        try:
            return max((len(row) for row in csv.reader(sample, delimiter=delimiter)), default=0)
        except csv.Error:
            return 0

    return ";" if widest(";") > widest(",") else ","


class CsvRecords:
    """A CSV file's rows, numbered as a spreadsheet shows them: one at a time as RawRows, or
    as many as wanted at once as the csv module reads them (``take``), for the columnar path.

    Excel shows one row per record, even when a quoted cell spans several lines.
    """

    def __init__(self, lines: Iterator[str], delimiter: str) -> None:
        # The limit is process-wide; raising it is harmless and lets parse.py report a big
        # cell as a row error instead of the csv module aborting the file.
        if csv.field_size_limit() < CSV_FIELD_LIMIT:
            csv.field_size_limit(CSV_FIELD_LIMIT)
        self._reader = csv.reader(lines, delimiter=delimiter)
        self.number = 0  # of the last row read

    def __iter__(self) -> CsvRecords:
        return self

    def __next__(self) -> RawRow:
        try:
            record = next(self._reader)
        except csv.Error as exc:
            raise self._unreadable(exc) from None
        self.number += 1
        return RawRow(self.number, trim(record))

    def take(self, count: int) -> list[list[str]]:
        """The next ``count`` rows as the csv module reads them (fewer at the end of the file),
        not trimmed: the first is row ``number + 1`` before the call."""
        try:
            records = list(islice(self._reader, count))
        except csv.Error as exc:
            raise self._unreadable(exc) from None
        self.number += len(records)
        return records

    def _unreadable(self, exc: csv.Error) -> FileRejected:
        return FileRejected(f"the CSV cannot be read at line {self._reader.line_num:,}: {exc}")


# --- XLSX ----------------------------------------------------------------------------------------


def _open_xlsx(source: IO[bytes]) -> RawFile:
    _check_zip(source)
    source.seek(0)
    # Imported here: openpyxl costs about 0.4 s of start-up that every command paid, and most
    # never read a workbook.
    import openpyxl  # type: ignore[import-untyped,unused-ignore]

    try:
        workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise FileRejected(f"the XLSX workbook cannot be opened: {exc}") from None
    if not workbook.worksheets:
        workbook.close()
        raise FileRejected("the XLSX workbook has no worksheet")
    return RawFile("xlsx", _xlsx_rows(workbook))


def _check_zip(source: IO[bytes]) -> None:
    """Reject what is not a workbook, and zip bombs, before openpyxl inflates anything.

    Checking the declared sizes is enough: zipfile never returns more than a member's
    declared size, so a member cannot inflate beyond what is checked here.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileRejected("the file looks like a zip/XLSX file but is damaged") from None
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names:
        raise FileRejected(f"{NOT_CSV_OR_XLSX} (it is a zip archive, not an Excel workbook)")
    if sum(member.file_size for member in members) > MAX_XLSX_UNCOMPRESSED:
        raise FileRejected(
            "the XLSX file unpacks to more than 200 MiB; split it into smaller files"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise FileRejected(
                "the XLSX file is compressed suspiciously far (a zip bomb?); it was not opened"
            )


def _xlsx_rows(workbook: openpyxl.Workbook) -> Iterator[RawRow]:
    try:
        sheet = workbook.worksheets[0]
        # Some writers record a wrong sheet size ("A1"); without this rows past it are lost.
        sheet.reset_dimensions()
        # openpyxl fills gaps in the sheet with empty rows, so enumerate gives Excel's numbers.
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield RawRow(number, trim(values))
    except Exception as exc:  # a damaged sheet part surfaces only while reading
        raise FileRejected(f"the XLSX worksheet cannot be read: {exc}") from None
    finally:
        workbook.close()
