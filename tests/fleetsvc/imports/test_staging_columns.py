"""Staging records made by column are those made row by row: the same row numbers, parse
results, issues (with the warnings staging adds and values too long for the register),
original cells for rejected.csv and typed values, and the same counts."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from fleetsvc.imports.staging import _Stager
from importers import FileRejected, get_profile
from tests.importers.files import BABCOCK_HEADER, VODAFONE_HEADER, babcock_row, vodafone_row
from tests.importers.quirky import QuirkyFile, quirky_files


def staged(file: QuirkyFile, *, columnar: bool) -> tuple[list[tuple[Any, ...]], int, int] | str:
    """The records staging would COPY (by row number) and its counts, or the refusal."""
    try:
        parsed = file.parse(columnar=columnar)
        batches = parsed.batches(file.batch_rows)
        stager = _Stager(1, parsed, file.profile.kind, batches, list(parsed.columns))
        records: list[tuple[Any, ...]] = []
        rejected = warnings = 0
        while True:
            batch = stager.take()
            records += batch.records
            rejected += batch.rejected
            warnings += batch.warnings
            if batch.done:
                break
    except FileRejected as exc:
        return exc.message
    return sorted(records, key=lambda record: record[1]), rejected, warnings


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quirky_files())
def test_records_by_column_are_those_made_row_by_row(file: QuirkyFile) -> None:
    assert staged(file, columnar=True) == staged(file, columnar=False)


def test_a_clean_row_staging_warns_about_is_staged_with_its_warning() -> None:
    """A row with no parse issue but an IMEI and no serial: staging's own warning."""
    row = vodafone_row().replace("R58R0000000", "")
    data = "\r\n".join([VODAFONE_HEADER, vodafone_row(), row]).encode()
    file = QuirkyFile(get_profile("vodafone-despatch"), data, 10_000, 5000)
    result = staged(file, columnar=True)
    assert not isinstance(result, str)
    records, rejected, warnings = result
    assert (rejected, warnings) == (0, 1)
    assert records[0][3] is None
    assert "the IMEI is recorded as the serial" in records[1][3]


def test_a_nul_past_the_first_mib_is_staged_as_row_by_row() -> None:
    """The reader refuses NUL in the first MiB only; a choice ignores it (choice_key keeps
    letters and digits), and staging replaces it in the original cells."""
    rows = [babcock_row(tablet=f"PF{i:08d}X") for i in range(12_000)]
    rows.append(babcock_row(status="Completed\x00", tablet="PF99999999X"))
    data = "\r\n".join([BABCOCK_HEADER, *rows]).encode()
    assert len(data) > 1 << 20
    file = QuirkyFile(get_profile("babcock-install"), data, 10_000, 5000)
    by_column = staged(file, columnar=True)
    assert by_column == staged(file, columnar=False)
    assert not isinstance(by_column, str)
    records = by_column[0]
    assert "Completed\ufffd" in records[-1][4] and len(records) == 12_001
