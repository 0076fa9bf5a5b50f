"""`fleetsvc mdm sync --file` and `fleetsvc mdm pull`, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests import factories
from tests.conftest import unique
from tests.fleetsvc.mdm.test_sync import asset_row, export_row, write_csv


async def test_cli_sync_file_prints_a_summary(
    database_url: str, app: object, tmp_path: Path
) -> None:
    a = await factories.asset()
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("export.csv", write_csv([export_row(serial=a["serial_number"])]))
    run_key = unique("cli-")
    fleetsvc = Path(sys.executable).parent / "fleetsvc"
    env = {**os.environ, "DATABASE_URL": database_url, "FLEETSVC_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [str(fleetsvc), "mdm", "sync", "--file", str(path), "--run-id", run_key],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"MDM run {run_key} (file): closed" in done.stdout
    assert "matched to assets" in done.stdout
    assert (await asset_row(a["id"]))["mdm_device_id"] is not None

    env.pop("FLEETSVC_MDM_GRAPH_URL", None)
    done = subprocess.run(
        [str(fleetsvc), "mdm", "pull"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "FLEETSVC_MDM_GRAPH_URL" in done.stderr
