"""Sending a notice: a signed JSON POST to the webhook, a plain-text e-mail over SMTP.

The webhook's body is signed with HMAC-SHA256 over ``<timestamp>.<body>`` (the timestamp
is sent too, so a receiver can refuse replays): ``X-Fleetsvc-Signature: sha256=<hex>``.
Neither the secret, the SMTP password nor the notice's content ever reach a log line; a
failure names only the destination's kind and the status or error class.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import smtplib
import ssl
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
import msgspec

from fleetsvc.jobs.kinds import RetryLater
from fleetsvc.notices import content
from fleetsvc.settings import NoticeSettings, SmtpSettings

SIGNATURE_HEADER = "X-Fleetsvc-Signature"
TIMESTAMP_HEADER = "X-Fleetsvc-Timestamp"
TIMEOUT_SECONDS = 30.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


async def post_webhook(
    settings: NoticeSettings,
    document: dict[str, object],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    body = msgspec.json.encode(document)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(settings.webhook_secret, timestamp, body),
    }
    try:
        async with httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS, follow_redirects=False, transport=transport
        ) as client:
            response = await client.post(settings.webhook_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise RetryLater(
            f"the notice webhook could not be reached ({type(exc).__name__})"
        ) from None
    if not 200 <= response.status_code < 300:
        raise RetryLater(f"the notice webhook answered {response.status_code}")


def send_email(
    smtp: SmtpSettings, sender: str, to: tuple[str, ...], subject: str, text: str
) -> None:
    """Send one plain-text message (blocking: run it in a thread)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    try:
        client: smtplib.SMTP
        if smtp.tls == "ssl":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_SECONDS)
        with client:
            if smtp.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.user is not None:
                client.login(smtp.user, smtp.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise RetryLater(f"the notice e-mail could not be sent ({type(exc).__name__})") from None


async def deliver(
    settings: NoticeSettings,
    notice: content.Notice,
    sent: dict[str, int],
    report: Callable[..., Awaitable[None]],
) -> dict[str, object]:
    """Send ``notice`` to each destination not in ``sent`` (what an earlier attempt already
    reached), reporting each one sent; a notice with nothing to say goes nowhere."""
    if notice.empty:
        return {"sent": False, "reason": "nothing needs attention"}
    if settings.webhook_url is not None and not sent.get("webhook"):
        await post_webhook(settings, content.as_document(notice))
        sent["webhook"] = 1
        await report("sending", **sent)
    smtp, sender, to = settings.smtp, settings.email_from, settings.email_to
    if to and smtp is not None and sender is not None and not sent.get("email"):
        subject, text = content.subject(notice), content.as_text(notice)
        await asyncio.to_thread(send_email, smtp, sender, to, subject, text)
        sent["email"] = len(to)
        await report("sending", **sent)
    return {
        "sent": True,
        "webhook": bool(sent.get("webhook")),
        "emailed": sent.get("email", 0),
        "items": sum(s.count for s in notice.sections),
    }
