"""The columnar path gives what the per-row path gives: the same rows, with the same values,
original cells, errors, warnings and row numbers, the same skipped rows and file warnings,
and the same refusal of a file it cannot read, for files with every quirk of the formats."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings

from importers import FileRejected, ParsedRow, get_profile, parse_file
from importers.columns import luhn_failures
from importers.fields import luhn_check_digit
from tests.importers.files import VODAFONE_HEADER, vodafone_row
from tests.importers.quirky import QuirkyFile, quirky_files


def outcome(file: QuirkyFile, *, columnar: bool) -> object:
    """Everything a parse tells, or the message it refuses the file with."""
    try:
        parsed = file.parse(columnar=columnar)
        rows: list[ParsedRow] = []
        for batch in parsed.batches(file.batch_rows):
            rows.extend(batch.rows())
    except FileRejected as exc:
        return exc.message
    return rows, parsed.skipped, parsed.file_warnings, parsed.data_rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quirky_files())
def test_columnar_path_parses_as_the_per_row_path(file: QuirkyFile) -> None:
    assert outcome(file, columnar=True) == outcome(file, columnar=False)


def test_the_columnar_path_is_taken_and_leaves_bad_rows_to_the_per_row_path() -> None:
    """A test of the test: clean rows come by column, a bad one as a ParsedRow."""
    lines = [VODAFONE_HEADER, vodafone_row(), vodafone_row("3.52099E+14"), vodafone_row()]
    data = "\r\n".join(lines).encode()
    parsed = parse_file(io.BytesIO(data), "upload.csv", get_profile("vodafone-despatch"))
    (batch,) = parsed.batches()
    assert batch.clean.numbers == [2, 4]
    assert [(row.row, [e.message.split(";")[0] for e in row.errors]) for row in batch.others] == [
        (3, ["IMEI is in scientific notation"])
    ]


def test_luhn_failures_finds_every_wrong_check_digit() -> None:
    bodies = [f"{i:018d}" for i in range(0, 3000, 7)]
    numbers = [body + luhn_check_digit(body) for body in bodies]
    wrong = {3, 100, len(numbers) - 1}
    for i in wrong:
        numbers[i] = numbers[i][:-1] + str((int(numbers[i][-1]) + 1) % 10)
    assert luhn_failures("".join(numbers), 19) == sorted(wrong)
