"""What the device page offers and says: the actions a device's status allows (from the
lifecycle table, ``fleetsvc.assets.lifecycle``, never a list of its own), each with its
words and the fields its form needs, and the timeline's events in the users' words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fleetsvc.assets.lifecycle import allowed_moves
from fleetsvc.audit import Event
from fleetsvc.errors import FieldProblem, TransitionRefused, ValidationFailed
from fleetsvc.vocabulary import KEPT_AT_LOCATION, AssetStatus

STATUS_WORDS: Final[Mapping[str, str]] = {
    AssetStatus.IN_STOCK: "in stock",
    AssetStatus.STAGING: "in staging",
    AssetStatus.DEPLOYED: "deployed",
    AssetStatus.IN_REPAIR: "in repair",
    AssetStatus.REBUILD: "away for rebuild",
    AssetStatus.LOST: "lost",
    AssetStatus.STOLEN: "stolen",
    AssetStatus.RETIRED: "retired",
    AssetStatus.DISPOSED: "disposed of",
}
# How each status shows as a tag (the class after ``tag--``).
STATUS_TAGS: Final[Mapping[str, str]] = {
    AssetStatus.IN_STOCK: "info",
    AssetStatus.STAGING: "info",
    AssetStatus.DEPLOYED: "ok",
    AssetStatus.IN_REPAIR: "warn",
    AssetStatus.REBUILD: "warn",
    AssetStatus.LOST: "error",
    AssetStatus.STOLEN: "error",
    AssetStatus.RETIRED: "muted",
    AssetStatus.DISPOSED: "muted",
}


@dataclass(frozen=True, slots=True)
class Action:
    """One move the page offers: its heading, button, the reason it suggests, and whether
    its form asks for a person, a location or a disposal certificate."""

    to: str
    heading: str
    button: str
    reason: str
    danger: bool = False

    @property
    def needs_person(self) -> bool:
        return self.to == AssetStatus.DEPLOYED

    @property
    def takes_location(self) -> bool:
        return self.to in KEPT_AT_LOCATION

    @property
    def needs_certificate(self) -> bool:
        return self.to == AssetStatus.DISPOSED


_ACTIONS: Final[Mapping[str, Action]] = {
    AssetStatus.DEPLOYED: Action(
        AssetStatus.DEPLOYED, "Issue to a person", "Issue the device", "issued to the holder"
    ),
    AssetStatus.IN_STOCK: Action(
        AssetStatus.IN_STOCK, "Return to stock", "Return to stock", "returned to stores"
    ),
    AssetStatus.STAGING: Action(
        AssetStatus.STAGING, "Send to staging", "Send to staging", "enrolment and build"
    ),
    AssetStatus.IN_REPAIR: Action(
        AssetStatus.IN_REPAIR, "Send to repair", "Send to repair", "faulty: sent for repair"
    ),
    AssetStatus.REBUILD: Action(
        AssetStatus.REBUILD, "Send for rebuild", "Send for rebuild", "rebuild to the standard build"
    ),
    AssetStatus.LOST: Action(
        AssetStatus.LOST, "Report lost", "Report lost", "reported lost", danger=True
    ),
    AssetStatus.STOLEN: Action(
        AssetStatus.STOLEN, "Report stolen", "Report stolen", "reported stolen", danger=True
    ),
    AssetStatus.RETIRED: Action(
        AssetStatus.RETIRED, "Retire", "Retire the device", "end of life", danger=True
    ),
    AssetStatus.DISPOSED: Action(
        AssetStatus.DISPOSED,
        "Dispose of",
        "Record the disposal",
        "disposed of under the waste duty of care",
        danger=True,
    ),
}
_FOUND = Action(AssetStatus.IN_STOCK, "Found", "Found: back in stock", "found")


def actions_for(status: str) -> list[Action]:
    """The moves the lifecycle table allows from ``status``, as the page offers them."""
    out = []
    for to in allowed_moves(status):
        if to == AssetStatus.IN_STOCK and status in (AssetStatus.LOST, AssetStatus.STOLEN):
            out.append(_FOUND)
        else:
            out.append(_ACTIONS[to])
    return out


def refused_message(exc: TransitionRefused) -> str:
    """A move the lifecycle forbids, in the users' words, naming the moves it allows."""
    now = STATUS_WORDS.get(exc.current, exc.current)
    wanted = STATUS_WORDS.get(exc.wanted, exc.wanted)
    if not exc.allowed:
        return f"This device is {now}: that is final, it cannot be moved to {wanted}."
    allowed = ", ".join(STATUS_WORDS.get(s, s) for s in exc.allowed)
    return f"A device that is {now} cannot be moved to {wanted}. From {now} it can go: {allowed}."


def move_errors(exc: ValidationFailed) -> dict[str, str]:
    """A refused move's problems by the action form's field names."""
    out: dict[str, str] = {}
    for p in exc.problems:
        out.setdefault(p.field.split(".")[0], _worded(p))
    return out


def _worded(problem: FieldProblem) -> str:
    if problem.field == "reason":
        return "say why the device is moving"
    if problem.field == "person_id" and problem.message.startswith("deploying needs"):
        return "choose the person it is issued to"
    if problem.field == "certificate_ref" and not problem.message.endswith("when disposing"):
        return "give the waste disposal certificate reference"
    return problem.message


# --- the timeline ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    event: Event
    what: str
    who: str
    reason: str | None
    person_id: int | None
    details: list[str]


_HIDDEN = frozenset({"status", "person_id", "reason", "version", "updated_at", "created_at"})


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in after.items():
        if key in _HIDDEN:
            continue
        old = before.get(key)
        label = key.replace("_", " ")
        out.append(f"{label}: {old} → {value}" if old not in (None, "") else f"{label}: {value}")
    return out[:8]


def _what(event: Event) -> str:
    before, after = event.before or {}, event.after or {}
    if event.entity == "asset" and event.action == "transition":
        old = STATUS_WORDS.get(before.get("status", ""), before.get("status"))
        new = STATUS_WORDS.get(after.get("status", ""), after.get("status"))
        return f"{old} → {new}"
    if event.entity == "asset" and event.action == "created":
        return "registered"
    if event.entity == "install":
        return "fitted in a vehicle" if event.action == "created" else f"install {event.action}"
    if event.entity == "sim":
        return f"SIM {event.action.replace('_', ' ')}"
    return event.action.replace("_", " ")


def timeline(
    events: Iterable[Event], emails: Mapping[str, str], places: Mapping[int, str]
) -> list[TimelineEntry]:
    """Each event as the device page shows it: what happened, who did it, why, and to whom."""
    out = []
    for e in events:
        before, after = e.before or {}, e.after or {}
        person = after.get("person_id") if e.action == "transition" else None
        reason = after.get("reason") or after.get("removal_reason")
        details = [] if e.action == "transition" else _changes(before, after)
        kept_at = after.get("location_id") if e.action == "transition" else None
        if isinstance(kept_at, int):
            details.append(f"kept at {places.get(kept_at, f'location {kept_at}')}")
        out.append(
            TimelineEntry(
                event=e,
                what=_what(e),
                who=emails.get(e.actor_name, e.actor_name),
                reason=str(reason) if reason else None,
                person_id=person if isinstance(person, int) else None,
                details=details,
            )
        )
    return out


def ids_in(events: Iterable[Event], key: str) -> set[int]:
    """The people (``person_id``) or locations (``location_id``) the moves name, to name
    them on the page."""
    return {
        v
        for e in events
        if e.action == "transition" and isinstance(v := (e.after or {}).get(key), int)
    }
