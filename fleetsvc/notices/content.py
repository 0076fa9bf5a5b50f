"""What today's notice says: what needs someone's attention, from the queries the summary
report and the MDM reconciliation already run.

Personal data is kept to what the reader needs to act: device ids and serials, employee
numbers (never names or UPNs), counts. Each section lists at most ``ITEMS`` items and
always the full count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import asyncpg

from fleetsvc import __version__, reports
from fleetsvc.jobs import service as jobs
from fleetsvc.mdm import reconcile
from fleetsvc.settings import Settings

ITEMS = 100
SOON_DAYS = 30
HORIZON_DAYS = reports.CONTRACT_HORIZON_DAYS  # 180
NOTICE_KIND = "notice.send"

Item = dict[str, str | int | None]


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    count: int
    items: list[Item]


@dataclass(frozen=True, slots=True)
class Notice:
    date: dt.date
    generated_at: dt.datetime
    failed_jobs_since: dt.datetime
    sections: list[Section]
    service: str = f"fleetsvc {__version__}"

    @property
    def empty(self) -> bool:
        return all(s.count == 0 for s in self.sections)


def _day(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _contracts(summary: reports.Summary) -> list[Section]:
    soon: list[Item] = []
    later: list[Item] = []
    for c in summary.contracts_ending:
        item: Item = {
            "contract_id": c.id,
            "reference": c.reference,
            "kind": c.kind,
            "ends_on": _day(c.ends_on),
            "days_left": c.days_left,
        }
        (soon if c.days_left <= SOON_DAYS else later).append(item)
    return [
        Section(
            "contracts_ending_within_30_days",
            f"Contracts ending within {SOON_DAYS} days",
            len(soon),
            soon[:ITEMS],
        ),
        Section(
            "contracts_ending_within_180_days",
            f"Contracts ending in {SOON_DAYS + 1} to {HORIZON_DAYS} days",
            len(later),
            later[:ITEMS],
        ),
    ]


async def _leavers(conn: asyncpg.Connection, summary: reports.Summary) -> Section:
    """Devices still held by people who have left, by employee number (not name)."""
    people = {
        r["id"]: r["employee_number"]
        for r in await conn.fetch(
            "SELECT id, employee_number FROM person WHERE id = ANY($1::int[])",
            sorted({d.person_id for d in summary.leaver_sample}),
        )
    }
    items: list[Item] = [
        {"asset_id": d.asset_id, "employee_number": people.get(d.person_id)}
        for d in summary.leaver_sample[:ITEMS]
    ]
    return Section("leavers_devices", "Devices held by leavers", summary.leaver_devices, items)


def _overdue_recoveries(summary: reports.Summary) -> Section:
    """Leavers' recovery cases open past their due date, by case (no names)."""
    items: list[Item] = [
        {
            "case_id": r.case_id,
            "due_on": _day(r.due_on),
            "business_unit": r.business_unit,
            "devices_outstanding": r.lines_open,
        }
        for r in summary.overdue_sample[:ITEMS]
    ]
    return Section(
        "recoveries_overdue",
        "Leavers' recovery cases overdue",
        summary.recoveries_overdue,
        items,
    )


def _not_seen(report: reconcile.Reconciliation) -> Section:
    items: list[Item] = [
        {
            "asset_id": cast(int, r["asset_id"]),
            "serial_number": cast(str, r["serial_number"]),
            "last_seen_at": _day(cast("dt.date | dt.datetime | None", r["mdm_last_seen_at"])),
            "business_unit": cast("str | None", r["business_unit"]),
        }
        for r in report.not_seen.items[:ITEMS]
    ]
    return Section(
        "devices_not_seen",
        f"Deployed devices the MDM has not seen for {report.stale_days} days",
        report.not_seen.count,
        items,
    )


def _over_delivered(summary: reports.Summary) -> Section:
    items: list[Item] = [
        {
            "number": o.number,
            "contract_reference": c.reference,
            "ordered": o.ordered,
            "delivered": o.delivered,
            "over_delivered": o.over_delivered,
        }
        for c in summary.contracts
        for o in c.purchase_orders
        if o.over_delivered > 0
    ]
    return Section(
        "purchase_orders_over_delivered",
        "Purchase orders delivered beyond what was ordered",
        len(items),
        items[:ITEMS],
    )


def _failed_jobs(failed: Sequence[jobs.FailedJob], count: int) -> Section:
    items: list[Item] = [
        {
            "job_id": j.id,
            "kind": j.kind,
            "failed_at": _day(j.finished_at),
            "error": (j.error or "")[:200],
        }
        for j in failed
    ]
    return Section("failed_jobs", "Jobs that failed since the last notice", count, items)


async def build_notice(
    conn: asyncpg.Connection, settings: Settings, now: dt.datetime | None = None
) -> Notice:
    """Today's notice, as of ``now``; failed jobs are those since the last notice ran."""
    now = now or dt.datetime.now(dt.UTC)
    summary = await reports.summary(conn, HORIZON_DAYS)
    reconciliation = await reconcile.reconcile(
        conn, capacity=settings.mdm_capacity, stale_days=settings.mdm_stale_days, limit=ITEMS
    )
    since = await jobs.last_notice_until(conn, NOTICE_KIND) or now - dt.timedelta(days=1)
    failed, failed_count = await jobs.failed_between(conn, since, now, limit=ITEMS)
    return Notice(
        date=now.astimezone(dt.UTC).date(),
        generated_at=now,
        failed_jobs_since=since,
        sections=[
            *_contracts(summary),
            await _leavers(conn, summary),
            _overdue_recoveries(summary),
            _not_seen(reconciliation),
            _over_delivered(summary),
            _failed_jobs(failed, failed_count),
        ],
    )


def as_document(notice: Notice) -> dict[str, object]:
    """The notice as the webhook receives it (JSON)."""
    return {
        "type": "fleetsvc.notice",
        "service": notice.service,
        "date": notice.date.isoformat(),
        "generated_at": notice.generated_at.isoformat(),
        "failed_jobs_since": notice.failed_jobs_since.isoformat(),
        "sections": [
            {"key": s.key, "title": s.title, "count": s.count, "items": s.items}
            for s in notice.sections
        ],
    }


def subject(notice: Notice) -> str:
    parts = [f"{s.count} {s.title[0].lower()}{s.title[1:]}" for s in notice.sections if s.count]
    return f"fleetsvc notice {notice.date.isoformat()}: " + "; ".join(parts)


def as_text(notice: Notice) -> str:
    """The notice as a plain-text e-mail."""
    lines = [f"What needs attention on {notice.date.isoformat()} ({notice.service}).", ""]
    for s in notice.sections:
        if not s.count:
            continue
        shown = f" (first {len(s.items)})" if len(s.items) < s.count else ""
        lines.append(f"{s.title}: {s.count}{shown}")
        for item in s.items:
            lines.append("  - " + ", ".join(f"{k} {v}" for k, v in item.items() if v is not None))
        lines.append("")
    return "\n".join(lines)
