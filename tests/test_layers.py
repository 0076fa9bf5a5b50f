"""The layering rule: api | web -> fleetsvc -> {db, importers}, never upwards, and the two
adapters independent of each other but for the app factory mounting the pages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_layers_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
    # The one crossing between api and web: the app factory composing both (pyproject.toml).
    assert "api | web -> fleetsvc -> {db, importers} KEPT (1 ignored import)" in result.stdout
