"""The README runs (issue 17): every ```sh example, in order, as written, against the real
service (`fleetsvc serve` on a free port) with the demo fleet loaded, each checked against
what its text says. The convention is in ``tests/readme.py``.

The demo is loaded first at a fiftieth of its size (`fleetsvc demo --scale 0.02`: the same
records, numbered from the same first ones, so every lookup the README makes finds what it
finds at full size); the README's own `fleetsvc demo` then runs too, and says it was
already loaded. A step that fails is reported with its README line, its commands and their
output; the steps after it still run (in the shell state it left).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests import readme
from tests.conftest import Databases, new_database

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCKS = list(readme.runnable(README.read_text()))
DATABASE = "fleetsvc_readme"
DEMO_SCALE = "0.02"


class Session:
    """The service, the reader's shell, and the blocks run so far (in README order)."""

    def __init__(self, shell: readme.Shell) -> None:
        self.shell = shell
        self.done: dict[int, list[readme.Outcome]] = {}

    def run_through(self, block: readme.Block) -> list[readme.Outcome]:
        for earlier in BLOCKS:
            if earlier.line not in self.done:
                self.done[earlier.line] = [self.shell.run(s) for s in earlier.steps()]
            if earlier.line == block.line:
                break
        return self.done[block.line]


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"fleetsvc serve stopped at start:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"fleetsvc serve not ready in 60 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
async def session(
    databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Session]:
    from db.embedded import drop_database

    started = time.monotonic()
    own = await new_database(databases, DATABASE)
    env = readme.environment(own.service, own.owner)
    venv = Path(sys.executable).parent.parent
    fleetsvc = str(venv / "bin" / "fleetsvc")
    loaded = subprocess.run(
        [fleetsvc, "demo", "--scale", DEMO_SCALE], env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    port = readme.free_port()
    base = tmp_path_factory.mktemp("readme")
    log = base / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [fleetsvc, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, log)
        work = base / "reader"
        work.mkdir()
        print(f"\nthe README's service ready in {time.monotonic() - started:.1f} s")
        session = Session(readme.Shell(work, ROOT, venv, env, port))
        yield session
        steps = [o for outcomes in session.done.values() for o in outcomes]
        print(f"{len(steps)} steps in {sum(o.seconds for o in steps):.1f} s; the slowest:")
        for o in sorted(steps, key=lambda o: -o.seconds)[:8]:
            print(f"  line {o.step.line}: {o.seconds:.1f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        await drop_database(databases.admin, DATABASE)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _ids() -> Iterator[str]:
    for block in BLOCKS:
        yield f"line-{block.line}"


@pytest.mark.parametrize("block", BLOCKS, ids=list(_ids()))
def test_the_readme_example_runs(session: Session, block: readme.Block) -> None:
    failed = [o.report(block) for o in session.run_through(block) if o.problems]
    assert not failed, "\n\n".join(failed)


def test_the_readme_has_examples_to_run() -> None:
    assert len(BLOCKS) >= 20
    for block in BLOCKS:
        block.steps()  # every check line parses
