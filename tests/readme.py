"""The README's shell examples, read and run as a reader would run them.

The convention (stated in the README's "Examples" note, checked by ``tests/test_readme.py``):

- a fenced ```` ```sh ```` block is run, in bash, in README order, each block in the shell
  state the blocks before it left (variables such as ``TOKEN``, ``API`` or ``ASSET``,
  and functions, carry on, as in one terminal);
- a comment line ``# → 201 {"status": "in_stock"}`` checks the commands above it (back to
  the previous check): the HTTP status of their last request and, when given, a subset of
  the JSON they printed; ``# → exit 1 some text`` checks their exit status and that the
  text is in what they printed;
- with no check, the commands must succeed (exit 0) and every HTTP answer must be below 400;
- ```` ```console ````, ```` ```text ```` and the other fences are not run (long-running
  commands such as ``make run``, benchmarks, outputs).

The only changes made to a block before it runs: the README's address ``127.0.0.1:8000``
becomes the test server's port. Each step's standard input is one line, a passphrase, as a
reader types one at ``--password-stdin``'s hidden prompt. The HTTP statuses are read by a
``curl`` of the harness's own first on ``PATH``, which runs the real curl with
``--trace-ascii`` to a file of its own (nothing the reader sees changes).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

README_PORT = "127.0.0.1:8000"
PASSPHRASE = "a readme passphrase 2026 of the examples"
_FENCE = re.compile(r"^```(\S*)\s*$")
_CHECK = re.compile(r"^\s*# → (.*)$")


@dataclass(frozen=True)
class Check:
    """What a ``# → …`` line expects of the commands above it."""

    line: int
    text: str
    status: int | None = None  # the last HTTP answer's status
    json: Any = None  # a subset of the JSON printed
    has_json: bool = False
    exit: int | None = None  # the exit status of the commands
    output: str | None = None  # text the commands printed


@dataclass(frozen=True)
class Step:
    """The commands of a block up to a check (or to the block's end)."""

    line: int  # the README line of its first command
    script: str
    check: Check | None


@dataclass(frozen=True)
class Block:
    line: int  # the README line of the opening fence
    language: str
    text: str
    section: str

    @property
    def runs(self) -> bool:
        return self.language == "sh"

    def steps(self) -> list[Step]:
        steps: list[Step] = []
        lines: list[str] = []
        first = self.line + 1
        for i, text in enumerate(self.text.splitlines()):
            number = self.line + 1 + i
            matched = _CHECK.match(text)
            if matched:
                steps.append(Step(first, "\n".join(lines) + "\n", parse_check(number, matched[1])))
                lines, first = [], number + 1
            else:
                if not lines and not text.strip():
                    first = number + 1
                lines.append(text)
        if any(t.strip() and not t.lstrip().startswith("#") for t in lines):
            steps.append(Step(first, "\n".join(lines) + "\n", None))
        return steps


def parse_check(line: int, text: str) -> Check:
    text = text.strip()
    exited = re.fullmatch(r"exit (\d+)(?:\s+(.*))?", text)
    if exited:
        return Check(line, text, exit=int(exited[1]), output=exited[2] or None)
    answered = re.fullmatch(r"(\d{3})(?:\s+(.*))?", text)
    if not answered:
        raise ValueError(f"README line {line}: a check is '# → STATUS [JSON]' or '# → exit N'")
    if answered[2] is None:
        return Check(line, text, status=int(answered[1]))
    try:
        expected = json.loads(answered[2])
    except json.JSONDecodeError as exc:
        raise ValueError(f"README line {line}: the check's JSON does not parse: {exc}") from None
    return Check(line, text, status=int(answered[1]), json=expected, has_json=True)


def blocks(markdown: str) -> list[Block]:
    """Every fenced block of the README, with its line and the section it is in."""
    found: list[Block] = []
    section = ""
    language: str | None = None
    start = 0
    body: list[str] = []
    for number, text in enumerate(markdown.splitlines(), start=1):
        fence = _FENCE.match(text)
        if language is None:
            if fence:
                language, start, body = fence[1], number, []
            elif text.startswith("#"):
                section = text.lstrip("#").strip()
        elif fence and not fence[1]:
            found.append(Block(start, language, "\n".join(body) + "\n", section))
            language = None
        else:
            body.append(text)
    return found


def subset(expected: Any, actual: Any) -> bool:
    """``expected`` is in ``actual``: a dict's keys with matching values, each item of a
    list matched by some item, any other value equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and all(any(subset(e, a) for a in actual) for e in expected)
    return bool(expected == actual)


def printed_json(stdout: str) -> Any:
    """The last JSON document the commands printed (curl prints one answer after another
    with nothing between them); text before it is skipped."""
    decoder = json.JSONDecoder()
    last: Any = None
    found = False
    at = 0
    while at < len(stdout):
        start = min((i for i in (stdout.find("{", at), stdout.find("[", at)) if i >= 0), default=-1)
        if start < 0:
            break
        try:
            last, at = decoder.raw_decode(stdout, start)
            found = True
        except json.JSONDecodeError:
            at = start + 1
    if not found:
        raise ValueError("printed no JSON")
    return last


_CURL = """#!/bin/bash
# The harness's curl: the real one, with a trace of its own to read the statuses from.
trace=$(mktemp "$FLEETSVC_README_TRACES/curl.XXXXXX")
{real} "$@" --trace-ascii "$trace"
"""


@dataclass
class Outcome:
    step: Step
    exit: int
    stdout: str
    stderr: str
    statuses: list[int]
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def report(self, block: Block) -> str:
        return (
            f"README line {self.step.line} (block at line {block.line}, {block.section!r}):\n"
            + "\n".join(f"  {p}" for p in self.problems)
            + f"\n--- commands\n{self.step.script.rstrip()}"
            + f"\n--- exit {self.exit}, HTTP statuses {self.statuses}"
            + f"\n--- stdout\n{_tail(self.stdout)}\n--- stderr\n{_tail(self.stderr)}"
        )


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


class Shell:
    """One reader's terminal: a working folder holding the repository's ``.venv`` and
    ``tests/`` (the sample files), and the shell state each step leaves to the next."""

    def __init__(self, work: Path, root: Path, venv: Path, env: dict[str, str], port: int):
        self.work = work
        self.port = port
        (work / ".venv").symlink_to(venv)
        (work / "tests").symlink_to(root / "tests")
        tools = work.parent / "readme-tools"
        tools.mkdir(exist_ok=True)
        real = shutil.which("curl")
        assert real, "the README's examples need curl"
        curl = tools / "curl"
        curl.write_text(_CURL.format(real=shlex.quote(real)))
        curl.chmod(0o755)
        self.traces = work.parent / "readme-traces"
        self.traces.mkdir(exist_ok=True)
        self.env = {
            **env,
            "PATH": f"{tools}:{env.get('PATH', '/usr/bin:/bin')}",
            "FLEETSVC_README_TRACES": str(self.traces),
        }
        self.env.setdefault("USER", "reader")
        self.state = work.parent / "readme-state"

    def _statuses(self) -> list[int]:
        statuses: list[int] = []
        for trace in sorted(self.traces.iterdir(), key=lambda p: p.stat().st_mtime_ns):
            last: int | None = None
            for text in trace.read_text(errors="replace").splitlines():
                found = re.match(r"^0000: HTTP/[\d.]+ (\d{3})", text)
                if found and not found[1].startswith("1"):
                    last = int(found[1])
                    statuses.append(last)
            trace.unlink()
        return statuses

    def run(self, step: Step, timeout: float = 90) -> Outcome:
        script = step.script.replace(README_PORT, f"127.0.0.1:{self.port}")
        (self.work.parent / "readme-step.sh").write_text(script)
        # Every assignment exported (set -a), so the next step's shell starts with it.
        wrapper = (
            "set -a\nset -eo pipefail\n"
            f"source {shlex.quote(str(self.work.parent / 'readme-step.sh'))}\n"
            f"set +e\nenv -0 > {shlex.quote(str(self.state))}\n"
        )
        self.state.unlink(missing_ok=True)
        started = time.monotonic()
        proc = subprocess.run(
            ["/bin/bash", "--noprofile", "--norc", "-c", wrapper],
            cwd=self.work,
            env=self.env,
            input=PASSPHRASE + "\n",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        outcome = Outcome(step, proc.returncode, proc.stdout, proc.stderr, self._statuses())
        outcome.seconds = time.monotonic() - started
        if self.state.exists():
            pairs = self.state.read_bytes().split(b"\0")
            env = dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
            for transient in ("_", "SHLVL", "OLDPWD", "PWD"):
                env.pop(transient, None)
            self.env = env
        outcome.problems = judge(outcome)
        return outcome


def judge(outcome: Outcome) -> list[str]:
    """What is wrong with a step's outcome, against its check or the default one."""
    check = outcome.step.check
    problems: list[str] = []
    answers = outcome.statuses
    if check is not None and check.exit is not None:
        if outcome.exit != check.exit:
            problems.append(f"exit {outcome.exit}, the README says exit {check.exit}")
        if check.output and check.output not in outcome.stdout + outcome.stderr:
            problems.append(f"did not print {check.output!r}")
        earlier = answers
    elif check is not None and check.status is not None:
        if outcome.exit != 0:
            problems.append(f"exit {outcome.exit}")
        if not answers:
            problems.append("made no HTTP request, the README says it answers")
        elif answers[-1] != check.status:
            problems.append(f"answered {answers[-1]}, the README says {check.status}")
        if check.has_json:
            try:
                got = printed_json(outcome.stdout)
            except ValueError:
                problems.append("printed no JSON")
            else:
                if not subset(check.json, got):
                    problems.append(f"the JSON printed does not hold {json.dumps(check.json)}")
        earlier = answers[:-1]
    else:
        if outcome.exit != 0:
            problems.append(f"exit {outcome.exit}")
        earlier = answers
    for status in earlier:
        if status >= 400:
            problems.append(f"a request answered {status} and no check in the README says so")
    return problems


def runnable(markdown: str) -> Iterator[Block]:
    return (b for b in blocks(markdown) if b.runs)


def without_refused(markdown: str) -> str:
    """The README less the examples it says are refused (``# → 422``), which show a bad
    identifier or parameter on purpose."""
    refused = [
        step.script
        for block in blocks(markdown)
        if block.runs
        for step in block.steps()
        if step.check is not None and step.check.status == 422
    ]
    for script in refused:
        markdown = markdown.replace(script, "")
    return markdown


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(database: str, migration_database: str) -> dict[str, str]:
    """The reader's environment: theirs, with the test database instead of var/'s, and the
    service's defaults (the test suite's own settings for its in-process app left out)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FLEETSVC_") or k == "FLEETSVC_TEST_DATABASE_URL"
    }
    env.pop("FLEETSVC_TEST_DATABASE_URL", None)
    return env | {
        "DATABASE_URL": database,
        "FLEETSVC_MIGRATION_DATABASE_URL": migration_database,
        "FLEETSVC_LOG_FORMAT": "json",
        "FLEETSVC_LOG_LEVEL": "warning",
    }
