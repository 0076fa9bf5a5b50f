"""Domain errors. They carry no HTTP status codes: the API layer maps them, in
one place (``api/errors.py``); the CLI prints their message."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One failed rule: ``field`` is a dotted path (``items.3.imei``)."""

    field: str
    message: str


class FleetError(Exception):
    """Base of every error a user can cause and fix."""

    title = "Request failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def a_or_an(word: str) -> str:
    """A vocabulary word (a category, a contract kind) with its article, in plain words:
    "an airtime", "an ivma tablet", "a smartphone"."""
    plain = word.replace("_", " ")
    return f"{'an' if plain[:1].lower() in 'aeiou' else 'a'} {plain}"


class NotFound(FleetError):
    title = "Not found"

    def __init__(self, entity: str, key: object, *, by: str = "id") -> None:
        # In the users' words: "no delivery import", not the table's "delivery_import".
        super().__init__(f"no {entity.replace('_', ' ')} with {by} {key}")
        self.entity = entity
        self.key = key


class ValidationFailed(FleetError):
    title = "Validation failed"

    def __init__(self, problems: Iterable[FieldProblem], message: str | None = None) -> None:
        self.problems: list[FieldProblem] = list(problems)
        first = self.problems[0] if self.problems else None
        default = f"{first.field}: {first.message}" if first else "the request is not valid"
        if len(self.problems) > 1:
            default += f" (and {len(self.problems) - 1} more)"
        super().__init__(message or default)

    @classmethod
    def one(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldProblem(field, message)])


class BadRequest(FleetError):
    """Input that cannot be read at all (a tampered cursor, an unusable file)."""

    title = "Bad request"


class Conflict(FleetError):
    """The request clashes with the register as it is (a duplicate, a busy asset)."""

    title = "Conflict"

    def __init__(self, message: str, *, existing_id: int | None = None, field: str | None = None):
        super().__init__(message)
        self.existing_id = existing_id
        self.field = field


class TransitionRefused(Conflict):
    title = "Transition not allowed"

    def __init__(self, current: str, wanted: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (the status is final)"
        super().__init__(
            f"an asset that is {current} cannot move to {wanted}; allowed moves: {allowed_text}"
        )
        self.current = current
        self.wanted = wanted
        self.allowed = list(allowed)


class StaleVersion(FleetError):
    title = "Precondition failed"

    def __init__(self, entity: str, key: object, current_version: int) -> None:
        super().__init__(
            f"the {entity} {key} has changed since you read it (now version {current_version}); "
            "fetch it again and retry"
        )
        self.current_version = current_version


class NotAuthenticated(FleetError):
    title = "Not authenticated"


class Forbidden(FleetError):
    title = "Forbidden"


class TooLarge(FleetError):
    title = "Payload too large"


class Unavailable(FleetError):
    title = "Service unavailable"
