"""The one mapping from errors to HTTP: RFC 9457 problem JSON, never a traceback."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from db.engine import CommitUncertain, PoolTimeout, is_outage
from fleetsvc import errors as e
from fleetsvc.logs import get_logger

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_UNREACHABLE = "5"  # seconds: PostgreSQL restarting takes a few
RETRY_AFTER_BUSY = "2"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
log = get_logger("api.errors")


class ProblemField(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemField] | None = None
    existing_id: int | None = None
    allowed: list[str] | None = None


class Described(NamedTuple):
    """A problem and the headers its answer carries (Retry-After, WWW-Authenticate)."""

    problem: Problem
    headers: dict[str, str] | None


_STATUS: list[tuple[type[e.FleetError], int, str]] = [
    (e.NotFound, 404, "not-found"),
    (e.ValidationFailed, 422, "validation"),
    (e.BadRequest, 400, "bad-request"),
    (e.TransitionRefused, 409, "transition-refused"),
    (e.Conflict, 409, "conflict"),
    (e.StaleVersion, 412, "stale"),
    (e.NotAuthenticated, 401, "not-authenticated"),
    (e.Forbidden, 403, "forbidden"),
    (e.TooLarge, 413, "too-large"),
    (e.Unavailable, 503, "unavailable"),
]

_HTTP_TITLES = {
    400: ("Bad request", "bad-request"),
    401: ("Not authenticated", "not-authenticated"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    406: ("Not acceptable", "not-acceptable"),
    413: ("Payload too large", "too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
    422: ("Validation failed", "validation"),
    429: ("Too many requests", "too-many-requests"),
    500: ("Internal error", "internal"),
    503: ("Service unavailable", "unavailable"),
}


def _problem_schema() -> Schema:
    text, integer = Schema(type=OpenAPIType.STRING), Schema(type=OpenAPIType.INTEGER)
    field = Schema(
        type=OpenAPIType.OBJECT,
        required=["field", "message"],
        properties={"field": text, "message": text},
    )
    return Schema(
        type=OpenAPIType.OBJECT,
        description="An RFC 9457 problem document; 422 lists every bad field in errors.",
        required=["type", "title", "status", "detail"],
        properties={
            "type": text,
            "title": text,
            "status": integer,
            "detail": text,
            "instance": text,
            "request_id": text,
            "errors": Schema(type=OpenAPIType.ARRAY, items=field),
            "existing_id": integer,
            "allowed": Schema(type=OpenAPIType.ARRAY, items=text),
        },
    )


# What each error status means, as the document says it; which operations get
# which is decided by their shape in _error_codes.
_ERROR_DESCRIPTIONS = {
    "400": "The request could not be read (body, header or form)",
    "401": "No token, or a token that is unknown or revoked",
    "403": "The token's role may not do this",
    "404": "No such record",
    "409": "The request clashes with the register as it is (existing_id, allowed)",
    "412": "If-Match names a version that is no longer current",
    "413": "The body or upload is larger than this service accepts",
    "422": "A parameter or field is not valid (errors names each)",
    "503": "The database is not reachable; try again (Retry-After)",
}


def _error_codes(path: str, method: str, operation: Operation) -> set[str]:
    """The error statuses map_exception can answer this operation with."""
    codes: set[str] = set()
    parameters = [p for p in operation.parameters or [] if isinstance(p, Parameter)]
    if operation.security:  # every /api/v1 route: the guard, then the database
        codes |= {"401", "403", "503"}
        if method in ("post", "patch", "put", "delete"):
            codes.add("409")
    if "{" in path:
        codes.add("404")
    if operation.request_body is not None:
        codes |= {"400", "413", "422"}
    if any(p.param_in == "query" for p in parameters):
        codes |= {"400", "422"}
    if any(p.param_in == "header" and p.name.lower() == "if-match" for p in parameters):
        codes |= {"400", "412"}
    return codes


def document_problems(openapi: OpenAPI) -> None:
    """Describe error responses as what map_exception sends: problem JSON.

    Litestar documents only the 400 it adds to operations with parameters, and as
    its own ``{status_code, detail}`` JSON, which this service never sends; every
    status an operation can answer is listed here, so a client (or a fuzzer checking
    the document) meets no undocumented one.
    """
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["Problem"] = _problem_schema()
    content = {PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))}
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            responses = operation.responses = operation.responses or {}
            for code in sorted(_error_codes(path, method, operation) - set(responses)):
                responses[code] = OpenAPIResponse(description=_ERROR_DESCRIPTIONS[code])
            for code, response in responses.items():
                if code[:1] in ("4", "5") and not isinstance(response, Reference):
                    response.content = dict(content)
                    if code == "400":  # Litestar's, about its own validation only
                        response.description = _ERROR_DESCRIPTIONS[code]


def _body_limit(request: Request[Any, Any, Any]) -> str:
    """The limit the request passed, as a clause for the 413's detail."""
    resolve = getattr(request.scope.get("route_handler"), "resolve_request_max_body_size", None)
    limit = resolve() if resolve is not None else None
    if not limit:
        return ""
    if limit % (1024 * 1024) == 0:
        return f" ({limit // (1024 * 1024)} MiB)"
    return f" ({limit:,} bytes)"


def problem_type(slug: str) -> str:
    return f"urn:fleetsvc:problem:{slug}"


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


def describe_problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[ProblemField] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Described:
    default_title, default_slug = _HTTP_TITLES.get(status, ("Error", "error"))
    body = Problem(
        type=problem_type(slug or default_slug),
        title=title or default_title,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=_request_id(request),
        errors=errors,
        **extra,
    )
    return Described(body, headers)


def problem_response(described: Described) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(described.problem),
        status_code=described.problem.status,
        media_type=PROBLEM_JSON,
        headers=described.headers,
    )


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[ProblemField] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[bytes]:
    return problem_response(
        describe_problem(
            request, status, detail, slug=slug, title=title, errors=errors, headers=headers, **extra
        )
    )


_FIELD_NAMED = re.compile(r"(?P<kind>unknown|missing required) field `(?P<name>[^`]+)`")


def msgspec_problem(message: str, prefix: str = "") -> e.FieldProblem:
    """A msgspec ValidationError as ``{field, message}``, its path under ``prefix``
    (``Expected `int`, got `str` - at `$.model_id``` -> ``items.3.model_id``); a message
    with no path names the prefix itself, or ``body``."""
    path = ""
    if " - at `$" in message:
        message, _, where = message.partition(" - at `$")
        path = where.rstrip("`").lstrip(".").replace("[", ".").replace("]", "")
    named = _FIELD_NAMED.search(message)
    if named:
        path = f"{path}.{named['name']}" if path else named["name"]
        message = (
            "is not a field this request accepts" if named["kind"] == "unknown" else "is required"
        )
    return e.FieldProblem(".".join(part for part in (prefix, path) if part) or "body", message)


def _validation_fields(
    request: Request[Any, Any, Any], exc: ValidationException
) -> list[ProblemField]:
    """Litestar/msgspec errors as ``{field, message}`` with dotted paths (``items.3.imei``)."""
    out: list[ProblemField] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "body")
        message = str(item.get("message") or "is not valid")
        if message == f"'{key}'":
            # Litestar's KeyError for a value that was not sent (an empty body): name it,
            # or leave it out when the handler does not need it.
            if _has_default(request, key):
                continue
            missing = "a JSON request body is required" if key == "data" else "is required"
            out.append(ProblemField(field="body" if key == "data" else key, message=missing))
            continue
        if " - at `$" in message:
            # msgspec says "... - at `$.items[0].imei`": the path in the body is the field.
            found = msgspec_problem(message)
        else:
            found = msgspec_problem(
                message, "" if key == "data" else key.replace("[", ".").replace("]", "")
            )
        out.append(ProblemField(field=found.field, message=found.message))
    return out


def _has_default(request: Request[Any, Any, Any], name: str) -> bool:
    handler = request.scope.get("route_handler")
    parameter = handler.parsed_fn_signature.parameters.get(name) if handler else None
    return parameter is not None and parameter.has_default


def map_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Every exception the app can raise becomes a problem response here."""
    return problem_response(describe_exception(request, exc))


def describe_exception(request: Request[Any, Any, Any], exc: Exception) -> Described:
    """The one mapping of every exception the app can raise to a problem: the API answers
    it as problem JSON, the pages as a page in the users' words."""
    matched = next(((st, sl) for cls, st, sl in _STATUS if isinstance(exc, cls)), None)
    if matched is not None:
        assert isinstance(exc, e.FleetError)
        return _domain_problem(request, exc, *matched)
    if isinstance(exc, HTTPException | SerializationException):
        return _http_problem(request, exc)
    if is_outage(exc):
        return _unavailable(request, exc)
    if isinstance(exc, asyncpg.PostgresError):
        described = _database_problem(request, exc)
        if described is not None:
            return described
    # A bug of ours: log it with its traceback, answer without one.
    log.error("unhandled_exception", exc_info=exc, path=request.url.path, method=request.method)
    return describe_problem(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "an internal error occurred; it has been logged with this request id",
    )


def _domain_problem(
    request: Request[Any, Any, Any], exc: e.FleetError, status: int, slug: str
) -> Described:
    """A domain error: its status by class (``_STATUS``), its message as the detail."""
    fields = None
    extra: dict[str, Any] = {}
    if isinstance(exc, e.ValidationFailed):
        fields = [ProblemField(p.field, p.message) for p in exc.problems]
    if isinstance(exc, e.Conflict):
        extra["existing_id"] = exc.existing_id
        if exc.field:
            fields = [ProblemField(exc.field, exc.message)]
    if isinstance(exc, e.TransitionRefused):
        extra["allowed"] = exc.allowed
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": RETRY_AFTER_UNREACHABLE}
    return describe_problem(
        request,
        status,
        exc.message,
        slug=slug,
        title=exc.title,
        errors=fields,
        headers=headers,
        **extra,
    )


def _http_problem(
    request: Request[Any, Any, Any], exc: HTTPException | SerializationException
) -> Described:
    """Litestar's own exceptions: unreadable or invalid requests, auth, routing, limits."""
    if isinstance(exc, ValidationException):
        fields = _validation_fields(request, exc)
        if not fields:
            # Litestar raises this for unreadable bodies too (bad JSON, bad multipart).
            detail = _body_detail(request, _scrub(str(exc.detail or "unreadable")))
            return describe_problem(request, 400, detail, slug="bad-request")
        summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:3])
        return describe_problem(request, 422, summary, errors=fields)
    if isinstance(exc, SerializationException):
        return describe_problem(request, 400, f"the request body is not valid JSON: {exc}")
    if isinstance(exc, NotAuthorizedException):
        return describe_problem(
            request, 401, str(exc.detail), headers={"WWW-Authenticate": "Bearer"}
        )
    if isinstance(exc, PermissionDeniedException):
        return describe_problem(request, 403, str(exc.detail))
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    detail = str(exc.detail)
    if status == 400:
        detail = _body_detail(request, _scrub(detail))
    elif status == 404:
        detail = f"no route {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    elif status == 413:
        detail = "the request body is larger than this service accepts" + _body_limit(request)
    elif status >= 500:
        # Litestar raises these for our own mistakes (a dependency that failed).
        log.error("internal_http_exception", exc_info=exc, path=request.url.path)
        detail = "an internal error occurred; it has been logged with this request id"
    headers = dict(exc.headers) if exc.headers else None
    return describe_problem(request, status, detail, headers=headers)


def _database_problem(
    request: Request[Any, Any, Any], exc: asyncpg.PostgresError
) -> Described | None:
    """Database errors that are the caller's doing or a race, not our bug; None otherwise."""
    if isinstance(exc, asyncpg.DeadlockDetectedError | asyncpg.SerializationError):
        # Two requests locked the same records in opposite orders; one must retry.
        return describe_problem(
            request,
            409,
            "another change to the same records happened at the same moment; try again",
            slug="conflict",
            title="Conflict",
        )
    if isinstance(
        exc, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError
    ):
        # A NUL (or a character the database encoding lacks) in text we did not clean.
        log.warning("text_not_storable", path=request.url.path, sqlstate=exc.sqlstate)
        return describe_problem(
            request,
            422,
            "text in the request contains a NUL or another character that cannot be stored",
        )
    if isinstance(exc, asyncpg.DataError):
        # A value that passed type checks but not the column's range (an id of
        # 2**40, a date of year 300000): the caller's input, not our bug.
        log.warning("value_out_of_range", path=request.url.path, sqlstate=exc.sqlstate)
        return describe_problem(request, 422, "a value in the request is out of range")
    return None


def _body_detail(request: Request[Any, Any, Any], detail: str) -> str:
    if "json" in request.headers.get("content-type", ""):
        return f"the request body is not valid JSON: {detail}"
    return detail


def _scrub(detail: str) -> str:
    # Litestar's details can embed the full URL (query strings may hold personal data).
    head, sep, _ = detail.partition(" for path ")
    return head if sep else detail


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Described:
    """The database went away, is coming back, or gave no connection in time: a 503 that
    says whether the change asked for was made. The transaction owner has rolled back by
    now, so a write is undone unless the connection was lost during its COMMIT."""
    cause = exc.__cause__ if isinstance(exc, CommitUncertain) and exc.__cause__ else exc
    # The request's one log line names the exception; a traceback of the driver's
    # internals would say nothing more.
    request.scope.setdefault("state", {})["error"] = type(cause).__name__
    retry = RETRY_AFTER_UNREACHABLE
    if isinstance(exc, CommitUncertain):
        detail = (
            "the database went away while the change was being committed: it may or may "
            "not have been saved; read it back before trying again"
        )
    else:
        if isinstance(exc, PoolTimeout):
            detail = f"no database connection became free within {exc.seconds:g} s"
            retry = RETRY_AFTER_BUSY
        else:
            detail = "the database is not reachable"
        if request.method not in _READS:
            detail += "; nothing was changed"
        detail += "; try again shortly"
    return describe_problem(request, 503, detail, headers={"Retry-After": retry})
