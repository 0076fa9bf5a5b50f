"""The README runs (issue 17): every ```sh example, in order, as written, against the real
service (`fleetsvc serve` on a free port) with the demo fleet loaded, each checked against
what its text says. The convention is in ``tests/readme.py``.

The demo is loaded first at a hundredth of its size (`fleetsvc demo --scale 0.01`: the same
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
DEMO_SCALE = "0.01"


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
    # The examples never made the service fail: no traceback, no error logged, no 500.
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if '"level": "error"' in line]
    assert not errors, "\n".join(errors[:5])


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


SAMPLE = """# Title

```sh
A=1   # a variable the next block sees
curl -s http://127.0.0.1:8000/x
# → 201 {"status": "in_stock", "items": [{"id": 3}]}
false
# → exit 1
```

```console
make run
```
"""


def test_blocks_steps_and_checks_are_read_from_the_markdown() -> None:
    found = readme.blocks(SAMPLE)
    assert [(b.line, b.language, b.runs) for b in found] == [
        (3, "sh", True),
        (11, "console", False),
    ]
    first, second = found[0].steps()
    assert first.line == 4 and first.script.startswith("A=1")
    assert first.check is not None and first.check.status == 201
    assert first.check.json == {"status": "in_stock", "items": [{"id": 3}]}
    assert second.line == 7 and second.check is not None and second.check.exit == 1
    with pytest.raises(ValueError, match="line 9"):
        readme.parse_check(9, "two hundred")


def test_a_check_holds_a_subset_of_the_last_json_printed() -> None:
    printed = '{"id": 1}{"status": "in_stock", "items": [{"id": 2}, {"id": 3, "x": 0}], "n": 1}'
    got = readme.printed_json(printed)
    assert readme.subset({"status": "in_stock", "items": [{"id": 3}]}, got)
    assert not readme.subset({"items": [{"id": 4}]}, got)
    assert not readme.subset({"status": "deployed"}, got)
    with pytest.raises(ValueError):
        readme.printed_json("no json here")


def _outcome(check: str | None, exit: int, statuses: list[int], out: str = "") -> readme.Outcome:
    step = readme.Step(7, "curl …\n", readme.parse_check(8, check) if check else None)
    return readme.Outcome(step, exit, out, "", statuses)


def test_what_a_step_must_answer() -> None:
    assert readme.judge(_outcome(None, 0, [200, 201])) == []
    assert readme.judge(_outcome(None, 0, [200, 404])) == [
        "a request answered 404 and no check in the README says so"
    ]
    assert readme.judge(_outcome(None, 2, [])) == ["exit 2"]
    assert readme.judge(_outcome("409", 0, [200, 409])) == []
    assert readme.judge(_outcome("409", 0, [200])) == ["answered 200, the README says 409"]
    assert readme.judge(_outcome('200 {"a": 1}', 0, [200], '{"a": 2}')) == [
        'the JSON printed does not hold {"a": 1}'
    ]
    assert readme.judge(_outcome("exit 1 refused", 1, [], "fleetsvc: refused")) == []
    assert readme.judge(_outcome("exit 1 refused", 0, [])) == [
        "exit 0, the README says exit 1",
        "did not print 'refused'",
    ]


def test_a_step_that_fails_is_reported_with_its_line_and_output(tmp_path: Path) -> None:
    work = tmp_path / "reader"
    work.mkdir()
    venv = Path(sys.executable).parent.parent
    shell = readme.Shell(
        work, ROOT, venv, readme.environment("postgresql:///x", "postgresql:///x"), 1
    )
    block = readme.blocks('```sh\nB=2\n```\n\n```sh\necho "B is $B"; ls no-such-file\n```\n')
    assert shell.run(block[0].steps()[0]).problems == []
    failed = shell.run(block[1].steps()[0])
    assert failed.problems == ["exit 2"]
    report = failed.report(block[1])
    assert report.startswith("README line 6 (block at line 5")
    assert "B is 2" in report and "no-such-file" in report
