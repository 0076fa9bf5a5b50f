"""The benchmarks' generated data passes the register's own rules.

The benchmarks are run by hand, not by this suite, so nothing else notices when their
generators drift from the rules (a bench that loads IMEIs without their check digit only
fails the next time someone runs it). Timing is never checked here.
"""

from pathlib import Path

from bench import imports as bench_imports
from bench import mdm as bench_mdm
from bench import register as bench_register
from importers import get_profile, parse_file
from importers.fields import normalise_iccid, normalise_imei


def test_generated_identifiers_are_valid() -> None:
    for i in (0, 1, 7, 39_999, 999_999):
        for imei in (bench_mdm.imei(i), bench_register._imei(i)):
            assert normalise_imei(imei) == (imei, None), imei
        iccid = bench_register._iccid(i)
        assert normalise_iccid(iccid) == iccid


def test_generated_despatch_file_has_no_rejected_rows(tmp_path: Path) -> None:
    path = tmp_path / "despatch.csv"
    bench_imports.write_file(path, 200, 29_000)
    with path.open("rb") as stream:
        rows = list(parse_file(stream, path.name, get_profile("vodafone-despatch")))
    assert len(rows) == 200
    assert [(r.row, r.errors, r.warnings) for r in rows if not r.ok or r.warnings] == []


def test_generated_mdm_export_has_no_rejected_rows(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    records = bench_mdm.mdm_records(300)
    bench_mdm.write_export(records, path)
    with path.open("rb") as stream:
        rows = list(parse_file(stream, path.name, get_profile("intune-devices")))
    assert len(rows) == 300
    assert [(r.row, r.errors) for r in rows if not r.ok] == []
