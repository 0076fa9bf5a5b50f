"""An uploaded delivery file as it arrives: a ``multipart/form-data`` body streamed to a
temporary file (never held in memory), its other fields kept as short text, and the size
limit (``FLEETSVC_MAX_UPLOAD_MB``) enforced on the bytes received, so a too-large upload is
refused as soon as it passes the limit. Both the API and the pages receive uploads so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import IO, Final

from multipart import (  # type: ignore[import-untyped]
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
)

from fleetsvc.errors import BadRequest, TooLarge

FORM_FIELD_MAX: Final = 1024
WRITE_CHUNK: Final = 1 << 20
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


class Upload:
    """A multipart upload: the file spooled to disk, the other fields as short text."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.file_name = ""
        self.size = 0  # bytes of the file received
        self.fields: dict[str, str] = {}
        self._file: IO[bytes] | None = None
        self._segment: MultipartSegment | None = None
        self._text = bytearray()
        self._pending: list[bytes] = []

    async def receive(
        self,
        body: AsyncIterator[bytes],
        *,
        content_type: str,
        boundary: str,
        content_length: str | None,
        limit: int,
    ) -> None:
        """Read ``body`` (the request's chunks) as the request's headers describe it."""
        if content_type != "multipart/form-data" or not boundary:
            raise BadRequest("send the file as multipart/form-data with a 'file' part")
        announced = content_length
        if announced and announced.isascii() and announced.isdigit() and int(announced) > limit:
            raise too_large(limit)
        received = 0
        try:
            with PushMultipartParser(boundary, max_segment_count=16) as parser:
                async for chunk in body:
                    received += len(chunk)
                    if received > limit:
                        raise too_large(limit)
                    for event in parser.parse(chunk):
                        await self._event(event)
                    if parser.closed:
                        break
        except MultipartError as exc:
            raise BadRequest(f"the multipart/form-data body cannot be read: {exc}") from None
        await self._write()
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None

    async def _event(self, event: MultipartSegment | bytes | bytearray | None) -> None:
        """One parser event: a part starts (its headers), a piece of its body, or it ends."""
        if isinstance(event, MultipartSegment):
            self._segment = event
            if event.name == "file":
                await self._open(event.filename or "upload")
            return
        segment = self._segment
        if segment is None:
            return
        if event:
            if segment.name == "file":
                self._pending.append(bytes(event))
                self.size += len(event)
                if sum(map(len, self._pending)) >= WRITE_CHUNK:
                    await self._write()
            else:
                self._text.extend(event)
                if len(self._text) > FORM_FIELD_MAX:
                    raise BadRequest(f"the form field {segment.name!r} is too long")
            return
        if segment.name and segment.name != "file" and segment.filename is None:
            self.fields[segment.name] = self._text.decode("utf-8", "replace")
        self._text.clear()
        self._segment = None

    async def _open(self, filename: str) -> None:
        if self._file is not None:
            raise BadRequest("send exactly one file")
        name = PurePosixPath(filename.replace("\\", "/")).name
        self.file_name = _UNSAFE_NAME.sub("", name)[:255] or "upload"
        fd, path = await asyncio.to_thread(tempfile.mkstemp, prefix="fleetsvc-import-")
        self.path = Path(path)
        self._file = await asyncio.to_thread(os.fdopen, fd, "wb")

    async def _write(self) -> None:
        if self._pending and self._file is not None:
            data = b"".join(self._pending)
            self._pending.clear()
            await asyncio.to_thread(self._file.write, data)

    def hand_over(self) -> None:
        """The received file is someone else's now (a job's): ``discard`` leaves it."""
        self.path = None

    async def discard(self) -> None:
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
        if self.path is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.path.unlink)


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"the upload is larger than the {limit // (1024 * 1024)} MiB limit")
