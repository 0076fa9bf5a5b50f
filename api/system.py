"""Process and readiness probes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from api.errors import problem
from db.engine import connection
from db.migrate import known_migration_ids
from fleetsvc import __version__


class Health(msgspec.Struct):
    status: str
    version: str


class Ready(msgspec.Struct):
    status: str
    database: str
    pending_migrations: int


_KNOWN: set[str] = set()


@get("/health", operation_id="health", tags=["system"], summary="The process is up")
async def health() -> Health:
    return Health(status="ok", version=__version__)


@get(
    "/ready",
    operation_id="ready",
    tags=["system"],
    summary="The database is reachable and fully migrated (503 otherwise)",
    responses={503: ResponseSpec(None, description="Database unreachable or migrations pending")},
)
async def ready(request: Request[Any, Any, Any]) -> Response[Any]:
    if not _KNOWN:
        _KNOWN.update(known_migration_ids())
    try:
        async with connection() as conn:
            applied = {
                r["name"]
                for r in await conn.fetch("SELECT name FROM migration WHERE app_name = 'db'")
            }
    except Exception:
        return problem(
            request,
            503,
            "the database is not reachable",
            slug="not-ready",
            title="Not ready",
            headers={"Retry-After": "5"},
        )
    pending = len(_KNOWN - applied)
    if pending:
        return problem(
            request,
            503,
            f"{pending} migration(s) not yet applied",
            slug="not-ready",
            title="Not ready",
            headers={"Retry-After": "5"},
        )
    return Response(Ready(status="ready", database="ok", pending_migrations=0))
