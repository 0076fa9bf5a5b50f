"""Every `fleetsvc` command, mistyped as a new user types it: click's one message naming
the mistake (and what was meant), never a traceback; exit status 2."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
import pytest

from fleetsvc.cli import main

EXE = str(Path(sys.executable).parent / "fleetsvc")


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


async def _run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        EXE,
        *args,
        env={**os.environ, "FLEETSVC_LOG_LEVEL": "warning"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def test_every_command_is_checked() -> None:
    paths = _commands(main)
    assert ("import",) in paths and ("tokens", "revoke") in paths and ("mdm", "pull") in paths
    assert len(paths) >= 18


async def test_a_typo_in_any_command_is_clicks_message_never_a_traceback() -> None:
    paths = _commands(main)
    results = await asyncio.gather(*(_run(*path, "--colour") for path in paths))
    for path, (code, out) in zip(paths, results, strict=True):
        assert code == 2, (path, out)
        assert "Error: No such option '--colour'" in out and "Traceback" not in out, (path, out)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["tokns", "list"], "No such command 'tokns'. Did you mean 'tokens'?"),
        (["forecast", "--yeras", "3"], "No such option '--yeras'. Did you mean '--years'?"),
        (["demo", "--scale", "half"], "Invalid value for '--scale'"),
        (["serve", "--port", "eighty"], "Invalid value for '--port'"),
        (["worker", "--concurrency", "0"], "Invalid value for '--concurrency'"),
    ],
)
async def test_a_wrong_word_or_value_is_named(args: list[str], said: str) -> None:
    code, out = await _run(*args)
    assert code == 2 and said in out and "Traceback" not in out


async def test_a_token_id_beyond_any_id_is_not_found(app: object) -> None:
    code, out = await _run("tokens", "revoke", "99999999999999999999")
    assert (code, out.strip()) == (1, "fleetsvc: no token with id 99999999999999999999")
