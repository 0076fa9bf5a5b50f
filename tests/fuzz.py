"""`make fuzz`: schemathesis over every operation of the OpenAPI document, with every
role, against a real service with a (small) demo fleet loaded.

It fails on any 5xx, any schema-valid request we refuse, any schema-violating request we
accept, any status the document does not list, and any answer that does not match its
documented schema. Bounded in time (``--minutes``, 10 by default, for the whole run: what
setting up leaves is shared by the roles, each given at least 30 s).
Not part of ``make test``: a run takes minutes and its cases are random.

    .venv/bin/python -m tests.fuzz [--minutes 10] [--roles admin,auditor] [--scale 0.01]
                                   [--paths '^/api/v1/assets/batch$']

``--paths`` (a regular expression) fuzzes only the operations whose path it matches: to
reproduce one operation's failure without the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FLEETSVC = str(BIN / "fleetsvc")
# Admin last: its writes (revoking tokens, retiring devices) must not spoil the others' runs.
ROLES = ("auditor", "finance", "mdm", "engineer", "stores", "admin")
# What a role's run takes beyond --max-time (loading the document, the report), measured.
ROLE_OVERHEAD_S = 10
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
    )
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _database() -> tuple[dict[str, str], str, str]:
    """A fresh database on the embedded test server with the two roles (migrated later)."""
    from db.embedded import ensure_database, start_server, with_database, with_user
    from db.privileges import prepare_roles

    admin = start_server(ROOT / "var" / "test")
    name = f"fleetsvc_fuzz_{uuid.uuid4().hex[:8]}"
    await ensure_database(admin, name)
    superuser = with_database(admin, name)
    import asyncpg

    password = uuid.uuid4().hex
    conn = await asyncpg.connect(superuser)
    try:
        await prepare_roles(conn, "fleetsvc_fuzz_owner", "fleetsvc_fuzz_service", password)
    finally:
        await conn.close()
    owner = with_user(superuser, "fleetsvc_fuzz_owner", password)
    service = with_user(superuser, "fleetsvc_fuzz_service", password)
    env = {"DATABASE_URL": service, "FLEETSVC_MIGRATION_DATABASE_URL": owner}
    return env, admin, name


def _run(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [FLEETSVC, *args], env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"fleetsvc {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return out.stdout.strip()


def _wait_ready(origin: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("fleetsvc serve stopped")
        try:
            if httpx.get(f"{origin}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("fleetsvc serve did not become ready")


# What schemathesis's report says, counted across the roles (tests/fuzz.py's summary).
_OPERATIONS = re.compile(r"\s*Operations:\s+([0-9]+) selected")
_CASES = re.compile(r"\s*([0-9]+) generated")
_FAILURE = re.compile(r"\s*(?:❌|🚫) ([^:]+): ([0-9]+)")
_FILTERED = re.compile(r"Filtered: ([0-9]+)")


def _fuzz_role(
    st: str, origin: str, token: str, seconds: int, env: dict[str, str], paths: str | None
) -> Counter[str]:
    """One role's schemathesis run, its report shown as it comes: what it counted."""
    found: Counter[str] = Counter()
    only = ["--include-path-regex", paths] if paths else []
    with subprocess.Popen(
        [
            st,
            "--config-file",
            str(ROOT / "tests" / "fuzz.toml"),
            "run",
            f"{origin}/schema/openapi.json",
            "--checks",
            CHECKS,
            "--max-time",
            str(seconds),
            "--workers",
            "2",
            # An install names a tablet and a dock by patterns and a vehicle by another:
            # Hypothesis filters most drawn bodies out, which its health check calls an error.
            "--suppress-health-check",
            "filter_too_much",
            "--header",
            f"Authorization: Bearer {token}",
            *only,
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as run:
        assert run.stdout is not None
        for line in run.stdout:
            print(line, end="", flush=True)
            if m := _OPERATIONS.match(line):
                found["operations"] = max(found["operations"], int(m[1]))
            elif m := _CASES.match(line):
                found["cases"] += int(m[1])
            elif m := _FAILURE.match(line):
                found[m[1].strip()] += int(m[2])
            elif m := _FILTERED.match(line.strip()):
                found["dropped by the hooks"] += int(m[1])
        found["exit"] = 1 if run.wait(timeout=seconds * 3 + 300) else 0
    return found


def _summary(totals: Counter[str], roles: int, seconds: float) -> None:
    """The run's figures, as the README quotes them."""
    kinds = {k: n for k, n in totals.items() if k not in ("operations", "cases", "exit")}
    print(
        f"make fuzz: {totals['operations']} operations, each with {roles} roles:"
        f" {totals['cases']} cases in {seconds / 60:.1f} min"
    )
    for kind, n in sorted(kinds.items()):
        print(f"  {n:5} {kind}")
    if not any(n for k, n in kinds.items() if k != "dropped by the hooks"):
        print("  0 failures of any kind")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--scale", default="0.01", help="demo fleet size (fleetsvc demo --scale)")
    parser.add_argument("--paths", help="only the operations whose path this regex matches")
    args = parser.parse_args()
    started = time.monotonic()
    roles = [r for r in ROLES if r in args.roles.split(",")]
    st = shutil.which("st", path=str(BIN)) or str(BIN / "st")

    db_env, admin, name = asyncio.run(_database())
    port = _free_port()
    env = {
        **os.environ,
        **db_env,
        "SCHEMATHESIS_HOOKS": str(ROOT / "tests" / "fuzz_hooks.py"),
        "FLEETSVC_PORT": str(port),
        "FLEETSVC_WORKERS": "1",
        "FLEETSVC_LOG_FORMAT": "json",
        "FLEETSVC_LOG_LEVEL": "error",
    }
    _run(env, "db", "migrate")
    _run(env, "demo", "--scale", args.scale)
    tokens = {role: _run(env, "tokens", "create", "--name", f"fuzz-{role}", "--role", role)
              for role in roles}  # fmt: skip
    dropped = Path(tempfile.mkdtemp()) / "dropped.txt"
    env["FLEETSVC_FUZZ_DROPPED"] = str(dropped)
    origin = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen([FLEETSVC, "serve"], env=env, stdout=log, stderr=log)
    failed: list[str] = []
    totals: Counter[str] = Counter()
    try:
        _wait_ready(origin, proc)
        deadline = started + args.minutes * 60
        print(f"set up in {time.monotonic() - started:.0f} s", flush=True)
        for n, role in enumerate(roles):
            # What is left, shared by the roles still to run (so a slow one is made up for);
            # each schemathesis run also takes some seconds to start and to report.
            left = (deadline - time.monotonic()) / (len(roles) - n)
            per_role = max(30, int(left) - ROLE_OVERHEAD_S)
            print(f"--- {role}: {per_role} s", flush=True)
            found = _fuzz_role(st, origin, tokens[role], per_role, env, args.paths)
            operations = max(totals["operations"], found.pop("operations", 0))
            totals.update(found)
            totals["operations"] = operations
            if found["exit"]:
                failed.append(role)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        from db.embedded import drop_database

        asyncio.run(drop_database(admin, name))
    if dropped.exists():
        reasons = Counter(dropped.read_text(encoding="utf-8").splitlines())
        print("failures dropped by tests/fuzz_hooks.py (no schema can state them):")
        for why, n in reasons.most_common():
            print(f"  {n:5} {why}")
    _summary(totals, len(roles), time.monotonic() - started)
    if failed:
        raise SystemExit(f"schemathesis found failures with the roles: {', '.join(failed)}")
    print("no failures")


if __name__ == "__main__":
    main()
