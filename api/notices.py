"""The daily notice over HTTP: what today's would say (nothing is sent)."""

from __future__ import annotations

from datetime import date, datetime

import msgspec
from litestar import Controller, get

from api.guards import NOTICES
from db.engine import transaction
from fleetsvc.notices import content
from fleetsvc.settings import get_settings


class NoticeSection(msgspec.Struct):
    key: str
    title: str
    count: int
    items: list[dict[str, str | int | None]]


class NoticePreview(msgspec.Struct):
    date: date
    generated_at: datetime
    failed_jobs_since: datetime
    empty: bool
    destinations: list[str]
    sections: list[NoticeSection]


class NoticeController(Controller):
    path = "/notices"
    tags = ["notices"]

    @get(
        "/preview",
        operation_id="previewNotice",
        summary="Today's notice as it would be sent now",
        opt=NOTICES,
    )
    async def preview(self) -> NoticePreview:
        """What needs attention now; ``empty`` is true when the notice would not be sent,
        ``destinations`` says where it would go (``webhook``, ``email``)."""
        settings = get_settings()
        async with transaction() as conn:
            notice = await content.build_notice(conn, settings)
        n = settings.notices
        return NoticePreview(
            date=notice.date,
            generated_at=notice.generated_at,
            failed_jobs_since=notice.failed_jobs_since,
            empty=notice.empty,
            destinations=[
                d
                for d, on in (("webhook", n.webhook_url is not None), ("email", bool(n.email_to)))
                if on
            ],
            sections=[NoticeSection(s.key, s.title, s.count, s.items) for s in notice.sections],
        )


CONTROLLERS: list[type[Controller]] = [NoticeController]
