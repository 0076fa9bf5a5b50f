"""The daily notice, end to end: `fleetsvc worker` processes on a database of their own
queue it from its schedule (once, though there are two of them), build it, and send it
to a real local SMTP server (aiosmtpd) and a local HTTP receiver (uvicorn); the signature
verifies; a notice with nothing to say is not sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from db.embedded import drop_database
from fleetsvc.notices.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.conftest import Databases, new_database
from tests.fleetsvc.jobs import kinds as test_kinds
from tests.fleetsvc.jobs.processes import WorkerProcess
from tests.test_serve import _free_port

SECRET = "notice-signing-secret-0123"
TO = ("dp-team@force.example", "stores@force.example")


@dataclass
class Inbox:
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    mails: list[Envelope] = field(default_factory=list)


class _Mailbox:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.inbox.mails.append(envelope)
        return "250 OK"


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int, int]]:
    """A real SMTP server and an HTTP receiver on 127.0.0.1: (what they got, ports)."""
    got = Inbox()

    async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        got.posts.append((headers, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    http_port, smtp_port = _free_port(), _free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=http_port, log_config=None, lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    smtp = Controller(_Mailbox(got), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield got, http_port, smtp_port
    finally:
        smtp.stop()
        server.should_exit = True
        await serving


@pytest.fixture
async def own_database(databases: Databases) -> AsyncIterator[Databases]:
    """A fresh, migrated database: the notice says exactly what a test put in it."""
    name = f"fleetsvc_notice_{uuid.uuid4().hex[:8]}"
    db = await new_database(databases, name)
    try:
        await test_kinds.ensure_tables(db.owner)
        yield db
    finally:
        await drop_database(databases.admin, name)


def _notice_worker(db: Databases, http_port: int, smtp_port: int) -> WorkerProcess:
    return WorkerProcess(
        db.service,
        FLEETSVC_MIGRATION_DATABASE_URL=db.owner,
        FLEETSVC_NOTICE_CRON="0 0 * * *",  # the latest due time is already past: it runs now
        FLEETSVC_NOTICE_WEBHOOK_URL=f"http://127.0.0.1:{http_port}/hooks/fleet",
        FLEETSVC_NOTICE_WEBHOOK_SECRET=SECRET,
        FLEETSVC_NOTICE_EMAIL_TO=",".join(TO),
        FLEETSVC_NOTICE_EMAIL_FROM="fleetsvc@force.example",
        FLEETSVC_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        FLEETSVC_LOG_LEVEL="debug",
    )


async def _notice_jobs(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch("SELECT * FROM job WHERE kind = 'notice.send' ORDER BY id"))
    finally:
        await conn.close()


async def _one_finished_notice(url: str, within: float = 120.0) -> asyncpg.Record:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        jobs = await _notice_jobs(url)
        if jobs and jobs[0]["status"] in ("succeeded", "failed"):
            return jobs[0]
        assert loop.time() < deadline, jobs
        await asyncio.sleep(0.1)


async def test_a_notice_with_nothing_to_say_is_not_sent(
    own_database: Databases, inbox: tuple[Inbox, int, int]
) -> None:
    got, http_port, smtp_port = inbox
    worker = _notice_worker(own_database, http_port, smtp_port)
    try:
        await worker.started()
        job = await _one_finished_notice(own_database.service)
        assert job["status"] == "succeeded", job["error"]
        result = msgspec.json.decode(job["result"])
        assert result["sent"] is False and result["reason"] == "nothing needs attention"
        assert got.posts == [] and got.mails == []
    finally:
        worker.close()


async def _fill(url: str) -> dict[str, Any]:
    """What needs attention, in a database with nothing else."""
    today = dt.date.today()
    conn = await asyncpg.connect(url)
    try:
        supplier = await conn.fetchval(
            "INSERT INTO supplier (name) VALUES ('Vodafone') RETURNING id"
        )
        ends = {}
        for ref, days in (("VF-SOON", 10), ("VF-LATER", 100), ("VF-FAR", 400)):
            ends[ref] = await conn.fetchval(
                "INSERT INTO contract (reference, supplier_id, kind, title, starts_on, ends_on)"
                " VALUES ($1, $2, 'handset_supply', 'Handsets', '2021-04-01', $3) RETURNING id",
                ref,
                supplier,
                today + dt.timedelta(days=days),
            )
        unit = await conn.fetchval(
            "INSERT INTO business_unit (code, name) VALUES ('NW', 'North West') RETURNING id"
        )
        leaver = await conn.fetchval(
            "INSERT INTO person (employee_number, upn, display_name, kind, business_unit_id,"
            " active) VALUES ('E10442', 'jane.smith@force.example', 'Jane Smith', 'officer',"
            " $1, false) RETURNING id",
            unit,
        )
        model = await conn.fetchval(
            "INSERT INTO device_model (manufacturer, model_name, category, lifecycle_months)"
            " VALUES ('Samsung', 'Galaxy A32', 'smartphone', 36) RETURNING id"
        )
        order = await conn.fetchval(
            "INSERT INTO purchase_order (number, contract_id, raised_on) VALUES"
            " ('PO104455', $1, '2022-10-01') RETURNING id",
            ends["VF-FAR"],
        )
        await conn.execute(
            "INSERT INTO purchase_order_line (purchase_order_id, model_id, quantity, unit_cost)"
            " VALUES ($1, $2, 1, 289.00)",
            order,
            model,
        )
        held = await conn.fetchval(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status, person_id,"
            " purchase_order_id, delivered_on) VALUES ($1, 'samsung', 'R58HELD', 'deployed', $2,"
            " $3, '2022-11-14') RETURNING id",
            model,
            leaver,
            order,
        )
        await conn.execute(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status, purchase_order_id,"
            " delivered_on, location_id) VALUES ($1, 'samsung', 'R58SPARE', 'in_stock', $2,"
            " '2022-11-14', (SELECT id FROM location WHERE code = 'STORES'))",
            model,
            order,
        )
        # A closed MDM run that saw nothing: the deployed handset is unseen.
        await conn.execute(
            "INSERT INTO mdm_run (run_key, source, status, created_by, closed_at, batches)"
            " VALUES ('weekly-1', 'push', 'closed', 'mdm', now(), 1)"
        )
        failed = await conn.fetchval(
            "INSERT INTO job (kind, status, queued_by, queued_role, error, finished_at)"
            " VALUES ('mdm.pull', 'failed', 'schedule', 'admin', 'the MDM answered 503',"
            " now() - interval '1 hour') RETURNING id"
        )
    finally:
        await conn.close()
    return {"contracts": ends, "asset": held, "failed_job": failed, "today": today}


def _section(document: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in document["sections"] if s["key"] == key)
    return found


async def test_the_daily_notice_is_sent_once_to_the_webhook_and_by_mail(
    own_database: Databases, inbox: tuple[Inbox, int, int]
) -> None:
    got, http_port, smtp_port = inbox
    made = await _fill(own_database.service)
    # Two replicas' workers, one schedule: one notice.
    workers = [_notice_worker(own_database, http_port, smtp_port) for _ in range(2)]
    try:
        await asyncio.gather(*(w.started() for w in workers))
        job = await _one_finished_notice(own_database.service)
        assert job["status"] == "succeeded", job["error"]
        await asyncio.gather(*(w.logged("schedules_checked") for w in workers))
        assert len(await _notice_jobs(own_database.service)) == 1
        for w in workers:  # personal data never reaches a log line
            assert "E10442" not in w.log.read_text() and "Jane" not in w.log.read_text()
    finally:
        for w in workers:
            w.close()
    result = msgspec.json.decode(job["result"])
    assert result["sent"] is True and result["webhook"] is True and result["emailed"] == 2

    [(headers, body)] = got.posts
    expected = hmac.new(
        SECRET.encode(), headers[TIMESTAMP_HEADER.lower()].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    assert headers["content-type"] == "application/json"
    document = msgspec.json.decode(body)
    assert (
        document["type"] == "fleetsvc.notice"
        and document["date"] == dt.datetime.now(dt.UTC).date().isoformat()
    )
    soon = _section(document, "contracts_ending_within_30_days")
    assert [c["reference"] for c in soon["items"]] == ["VF-SOON"] and soon["count"] == 1
    later = _section(document, "contracts_ending_within_180_days")
    assert [c["reference"] for c in later["items"]] == ["VF-LATER"]
    assert _section(document, "leavers_devices")["items"] == [
        {"asset_id": made["asset"], "employee_number": "E10442"}
    ]
    unseen = _section(document, "devices_not_seen")
    assert unseen["count"] == 1 and unseen["items"][0]["asset_id"] == made["asset"]
    assert unseen["items"][0]["serial_number"] == "R58HELD"
    over = _section(document, "purchase_orders_over_delivered")["items"]
    assert over == [
        {
            "number": "PO104455",
            "contract_reference": "VF-FAR",
            "ordered": 1,
            "delivered": 2,
            "over_delivered": 1,
        }
    ]
    failed = _section(document, "failed_jobs")
    assert [j["job_id"] for j in failed["items"]] == [made["failed_job"]]
    assert failed["items"][0]["error"] == "the MDM answered 503"
    # Only what the reader needs: an employee number, never a name or a UPN.
    assert b"Jane Smith" not in body and b"jane.smith" not in body

    [mail] = got.mails
    assert sorted(mail.rcpt_tos) == sorted(TO) and mail.mail_from == "fleetsvc@force.example"
    text = mail.content.decode() if isinstance(mail.content, bytes) else str(mail.content)
    assert "Subject: fleetsvc notice " in text
    assert "Contracts ending within 30 days: 1" in text and "reference VF-SOON" in text
    assert "employee_number E10442" in text and "Jane Smith" not in text
