"""Versions on the wire: the ETag a single record is answered with, and the If-Match a
change sends back (412 when stale)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from litestar import Request, Response
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Operation, Parameter, Schema

from fleetsvc.errors import BadRequest

# What If-Match takes: ``*``, or one ETag this service sent (``"3"``, or weak ``W/"3"``).
# Versions are database integers: more digits than a bigint has was never an ETag of ours
# (and Python refuses to read an integer of thousands of digits). The document states it
# as this pattern, so a client generated from it sends only values we read.
IF_MATCH_PATTERN = r'^(\*|(W/)?"[0-9]{1,18}")$'
# A format of our own, not one of OpenAPI's (Litestar types the field as those).
ETAG_FORMAT = cast("OpenAPIFormat", "etag")
_IF_MATCH = re.compile(r'(?:W/)?"([0-9]{1,18})"')


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(body: Any, version: int, status_code: int = 200) -> Response[Any]:
    """A single record, with the ETag a later PATCH or transition sends as If-Match."""
    return Response(body, status_code=status_code, headers={"ETag": etag(version)})


@dataclass
class HonoursIfMatch(Operation):
    """The OpenAPI operation of a handler that reads ``if_match``: the header is documented
    (and ``api.errors.document_problems`` adds its 400 and 412). Use as ``operation_class``."""

    def __post_init__(self) -> None:
        header = Parameter(
            name="If-Match",
            param_in="header",
            required=False,
            # The format names the pattern's rule (tests/fuzz_hooks.py generates it: the
            # fuzzer draws header values from letters and digits unless a format says how).
            schema=Schema(type=OpenAPIType.STRING, pattern=IF_MATCH_PATTERN, format=ETAG_FORMAT),
            description=(
                'The ETag you read, quotes included (like "3"), or *; 412 if the record has'
                " changed since"
            ),
        )
        self.parameters = [*(self.parameters or []), header]


def if_match(request: Request[Any, Any, Any]) -> int | None:
    """The version the client last saw, from ``If-Match`` (None when absent)."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    # Exactly an ETag as sent (IF_MATCH_PATTERN): a bare 3 or ""3"" is a client's bug.
    found = _IF_MATCH.fullmatch(raw.strip())
    if found is None:
        raise BadRequest('If-Match must be an ETag this service returned, for example "3"')
    return int(found[1])
