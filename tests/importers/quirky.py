"""Hypothesis strategies for supplier files with the quirks of ../shared/formats/README.md:
encodings and BOMs, semicolons, CRLF or LF, title rows, extra and trailing empty columns,
repeated (and reordered) headers, blank and totals rows, Excel-mangled identifiers, dates in
several forms, white space, NUL and control characters, formulas, quoted line breaks, long
cells; and valid rows, so that most of a file takes the columnar path and its rows mix."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from hypothesis import strategies as st

from importers import ParsedFile, Profile, builtin_profiles, luhn_check_digit, parse_file


def _luhn(body: str) -> str:
    return body + luhn_check_digit(body)


_IMEIS = [
    _luhn("35209900176148"),
    _luhn("35209900176149"),
    "352099001761482",  # wrong check digit
    _luhn("35209900176148") + ".0",
    "'" + _luhn("35209900176148"),
    "35 209900 176148 1",
    "3.52099E+14",
    "35209900176148",  # 14 digits: the check digit is added, with a warning
    "10000000000001",  # 14 digits starting 1: a lost leading 0?
    "٣٥٢٠٩٩٠٠١٧٦١٤٨١",  # digits, but not ASCII ones
    "35209900176148100",
]
_ICCIDS = [
    _luhn("894410000000000001"),
    _luhn("8944100000000000002"),
    _luhn("894410000000000003")[:-1] + "0",
    _luhn("774410000000000001"),  # not 89
    "8.9441E+18",
    " " + _luhn("894410000000000004"),
]
_SERIALS = ["R58R0000001", "r58r0000002", "AB CD", "ab\u200bcd", "1.2E+10", "x" * 70, "ÄBC", "S-1"]
_MSISDNS = [
    "07700 900123",
    "07700900124",
    "+44 7700 900125",
    "447700900126",
    "7700900127",
    "07700  900128",
    "0770 0900129",
    "7.7009E+9",
    "+33 612345678",
    "abc",
]
_DATES = [
    "14/11/2022",
    "2023-01-03",
    "3-Jan-23",
    "03 January 2023",
    "44929",
    "31/02/2023",
    "13/13/2023",
    "03/01/2023 00:00",
    "1/1/1899",
]
_TIMESTAMPS = ["2026-10-21 20:35:00.0000000", "2026-10-21T20:35:00Z", "2026-13-01 00:00", "x"]
_MONEY = ["£1,234.50", "1234.5", "1,234.50 GBP", "-1", "1.234", "689,00", "£", "12e3"]
_QUANTITIES = ["1", "2", "1.0", "0", "1.5", "x", "01"]
_TEXTS = [
    "VF-ORD-880000",
    " padded ",
    "=HYPERLINK(1)",
    "'=SUM(A1)",
    "\u00a0nbsp\u00a0",
    "O'Brien",
    "line\nbreak",
    "comma, inside",
    'a "quote"',
    "bidi\u202ex",
    "ß straße",
    "x" * 30,
    "y" * 40,  # longer than most of the register's columns hold
]
_VRMS = ["bx21 aaa", "BX21AAA", "B", "BX21-AAA!"]
_UPNS = ["a.smith@force.police.uk", "A.Smith@Force.Police.UK ", "not-an-email", "a@b"]
_BY_PARSER = {
    "imei": _IMEIS,
    "iccid": _ICCIDS,
    "serial": _SERIALS,
    "msisdn": _MSISDNS,
    "date": _DATES,
    "timestamp": _TIMESTAMPS,
    "money": _MONEY,
    "quantity": _QUANTITIES,
    "vrm": _VRMS,
    "upn": _UPNS,
}
# Cells any column may hold. (A NUL byte makes the reader refuse the whole file when it is in
# the first MiB: test_columns.py has a file with one further on.)
_ANY = ["", " ", "\t", "Total", "\ufeff", "\x1f"]
_DIGITS = st.text(alphabet="0123456789", min_size=13, max_size=21)
_BODY = st.text(alphabet="0123456789", min_size=17, max_size=18)


def _good(profile: Profile, name: str) -> st.SearchStrategy[str]:
    """Cells the parser takes without a word, mostly of the columnar path's usual kind."""
    spec = profile.field(name)
    empty = st.just("") if not spec.required_value else st.nothing()
    if spec.parser == "imei":
        good = st.text(alphabet="0123456789", min_size=14, max_size=14).map(_luhn)
    elif spec.parser == "iccid":
        good = _BODY.map(lambda body: _luhn("89" + body))
    elif spec.parser == "serial":
        good = st.text(alphabet="ABCDEFGHJKLMNPRSTVWXYZ0123456789abc", min_size=1, max_size=12)
    elif spec.parser == "msisdn":
        number = st.text(alphabet="0123456789", min_size=9, max_size=9)
        good = number.map(lambda n: f"07{n[:3]} {n[3:]}") | number.map(lambda n: f"07{n}")
    elif spec.parser == "enum":
        good = st.sampled_from(spec.choices)
    else:
        pool = _BY_PARSER.get(spec.parser, _TEXTS)
        good = st.sampled_from(pool[:2]) if spec.parser != "quantity" else st.just("1")
        if spec.parser in ("text", "upper"):
            good |= st.sampled_from(["y" * 40, " padded ", "O'Brien", "ß straße"])
    return st.one_of(good, good, good, empty)


def _quirk(profile: Profile, name: str) -> st.SearchStrategy[str]:
    """Cells with a quirk: normalised with or without a warning, or refused."""
    spec = profile.field(name)
    pool = _BY_PARSER.get(spec.parser, _TEXTS)
    if spec.parser == "enum":
        pool = [*(alias for alias, _ in spec.choice_aliases), " " + spec.choices[0], "Unknown"]
    quirks = st.sampled_from(pool) | st.sampled_from(_ANY)
    return quirks | _DIGITS if spec.parser in ("imei", "iccid") else quirks


@st.composite
def _row(draw: st.DrawFn, profile: Profile, order: list[str]) -> list[str]:
    """A row of good cells, or one with a quirk or two."""
    row = [draw(_good(profile, name)) for name in order]
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2]))):
        at = draw(st.integers(0, len(order) - 1))
        row[at] = draw(_quirk(profile, order[at]))
    return row


@dataclass
class QuirkyFile:
    profile: Profile
    data: bytes
    max_cell_chars: int
    batch_rows: int

    def parse(self, *, columnar: bool) -> ParsedFile:
        """The file parsed as an upload is, by column or row by row (may raise FileRejected)."""
        return parse_file(
            io.BytesIO(self.data),
            "upload.csv",
            self.profile,
            max_cell_chars=self.max_cell_chars,
            columnar=columnar,
        )


@st.composite
def quirky_files(draw: st.DrawFn) -> QuirkyFile:
    profiles = [p for p in builtin_profiles().values() if "csv" in p.formats]
    profile = draw(st.sampled_from(sorted(profiles, key=lambda p: p.name)))
    optional = [spec.name for spec in profile.fields if not spec.required_column]
    names = [spec.name for spec in profile.required_fields]
    names += draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
    names = draw(st.permutations(names))
    extra = draw(st.sampled_from([[], ["Notes"], [""], ["", ""]]))
    header = [profile.field(name).header for name in names] + extra
    out = io.StringIO()
    delimiter = draw(st.sampled_from([",", ";"]))
    writer = csv.writer(
        out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\r\n", "\n"]))
    )
    if draw(st.booleans()):
        writer.writerow(["Despatch report"])
        writer.writerow([])
    writer.writerow(header)
    order = list(names)
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["row"] * 12 + ["blank", "empty", "totals", "header"]))
        if kind == "blank":
            writer.writerow([""] * len(header))
        elif kind == "empty":
            writer.writerow([])
        elif kind == "totals":
            writer.writerow(["Total"] + [""] * (len(header) - 2) + ["5"])
        elif kind == "header":
            order = draw(st.sampled_from([order, draw(st.permutations(order))]))
            writer.writerow([profile.field(name).header for name in order] + extra)
        else:
            row = draw(_row(profile, order))
            tail = draw(st.sampled_from([[], [], ["", ""], [" "], ["shifted"]]))
            cut = draw(st.sampled_from([len(row)] * 30 + list(range(len(row)))))
            writer.writerow(row[:cut] + [""] * len(extra) + tail if cut == len(row) else row[:cut])
    text = out.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    return QuirkyFile(
        profile, data, draw(st.sampled_from([25, 10_000])), draw(st.sampled_from([1, 3, 7, 5000]))
    )
