"""What `fleetsvc import` prints once the file is read: the counts and purchase-order lines,
then the reasons — the first warnings, conflicts and rejected rows, each with its row,
column and value (a conflict names each field the file and the register disagree on) —
and where to find all of them. And the option pairs the command refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fleetsvc.commands.common import fail
from fleetsvc.imports.queries import ImportRowIssue, first_issues
from fleetsvc.imports.summary import DeliveryImport

SHOWN: Final = 20  # of each kind; rejected.csv has every rejected and conflicting row


def refuse_contradictions(
    file: Path, *, commit: bool, allow_partial: bool, rejected_out: Path | None
) -> None:
    """Stop, naming both options, when two say opposite things (nothing is read or written)."""
    if allow_partial and not commit:
        fail(
            "--allow-partial without --commit: a preview commits nothing, so there is nothing"
            " to commit partly; add --commit, or leave out --allow-partial"
        )
    if rejected_out is None:
        return
    if rejected_out.resolve() == file.resolve():
        fail(f"--rejected-out names FILE itself ({file}): the rejected rows would overwrite it")
    if not rejected_out.resolve().parent.is_dir():
        fail(f"--rejected-out {rejected_out}: the folder {rejected_out.parent} does not exist")


@dataclass
class Issues:
    """The first issues of each kind, and how many there are of each."""

    shown: dict[str, list[ImportRowIssue]] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)


async def gather(import_id: int) -> Issues:
    from db.engine import connection

    out = Issues()
    async with connection() as conn:
        for kind in ("warning", "conflict", "rejected"):
            out.shown[kind], out.total[kind] = await first_issues(conn, import_id, kind, SHOWN)
    return out


_TITLES: Final = {
    "warning": "warnings",
    "conflict": "conflicts: the register was not changed",
    "rejected": "rejected rows",
}


def _line(issue: ImportRowIssue) -> str:
    where = "file" if issue.row is None else f"row {issue.row}"
    cell = ""
    if issue.column:
        cell = f" {issue.column}" + (f" {issue.value!r}" if issue.value else " (empty)")
    return f"  {where}{cell}: {issue.message}"


def _rest(kind: str, item: DeliveryImport, total: int, written: Path | None) -> str:
    if kind != "warning" and written is not None:
        return f"all {total:,} in {written}"
    status = "warning" if kind == "warning" else "rejected"
    return f"all {total:,}: GET /api/v1/imports/{item.id}/rows?status={status}"


def print_issues(
    console: Console, item: DeliveryImport, issues: Issues, written: Path | None
) -> None:
    for kind, title in _TITLES.items():
        total = issues.total.get(kind, 0)
        if not total:
            continue
        shown = issues.shown[kind]
        head = f"{title} ({total:,})" if total <= len(shown) else (
            f"{title} (first {len(shown)} of {total:,}; {_rest(kind, item, total, written)})"
        )  # fmt: skip
        colour = "yellow" if kind == "warning" else "red"
        console.print(f"[{colour}]{escape(head)}[/{colour}]", soft_wrap=True)
        for issue in shown:
            console.print(escape(_line(issue)), soft_wrap=True, highlight=False)


def print_report(
    console: Console, item: DeliveryImport, issues: Issues, written: Path | None
) -> None:
    arriving = f", arriving at {item.location}" if item.location else ""
    title = escape(f"import {item.id}: {item.file_name} ({item.profile}{arriving}) — {item.status}")
    table = Table(title=title, show_header=True)
    table.add_column("rows")
    table.add_column("count", justify="right")
    for key, value in item.counts.items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    console.print(table)
    if item.po_lines:
        po = Table(title="purchase order lines")
        for column in ("PO", "model", "ordered", "before", "in file", "new", "over"):
            po.add_column(column, justify="left" if column in ("PO", "model") else "right")
        for line in item.po_lines:
            po.add_row(
                escape(line.po_number),
                escape(line.model),
                "-" if line.ordered is None else f"{line.ordered:,}",
                f"{line.delivered_before:,}",
                f"{line.in_file:,}",
                f"{line.new:,}",
                f"{line.over_delivered:,}",
            )
        console.print(po)
    print_issues(console, item, issues, written)
    if item.message:
        console.print(escape(item.message), soft_wrap=True)
    if written is not None:
        console.print(escape(f"rejected rows written to {written}"), soft_wrap=True)
