"""The asset lifecycle as data: the statuses, the one table of allowed moves,
and the rules a move must meet. Nothing else in the code decides whether a
status may change; the register's services ask here."""

from __future__ import annotations

from collections.abc import Mapping

from fleetsvc.errors import FieldProblem, TransitionRefused, ValidationFailed


class Status:
    IN_STOCK = "in_stock"
    STAGING = "staging"
    DEPLOYED = "deployed"
    IN_REPAIR = "in_repair"
    REBUILD = "rebuild"
    LOST = "lost"
    STOLEN = "stolen"
    RETIRED = "retired"
    DISPOSED = "disposed"

    ALL = (
        IN_STOCK,
        STAGING,
        DEPLOYED,
        IN_REPAIR,
        REBUILD,
        LOST,
        STOLEN,
        RETIRED,
        DISPOSED,
    )


class Category:
    SMARTPHONE = "smartphone"
    IVMA_TABLET = "ivma_tablet"
    VEHICLE_DOCK = "vehicle_dock"
    TABLET = "tablet"
    ACCESSORY = "accessory"

    ALL = (SMARTPHONE, IVMA_TABLET, VEHICLE_DOCK, TABLET, ACCESSORY)
    # Kit that is deployed by fitting it in a vehicle (an install), not by issue to a person.
    VEHICLE_KIT = (IVMA_TABLET, VEHICLE_DOCK)
    # Devices that take a SIM.
    TAKES_SIM = (SMARTPHONE, IVMA_TABLET, TABLET)


# DESIGN.md "Asset lifecycle": the only statement of which moves are allowed.
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    Status.IN_STOCK: (
        Status.STAGING,
        Status.DEPLOYED,
        Status.IN_REPAIR,
        Status.REBUILD,
        Status.LOST,
        Status.RETIRED,
    ),
    Status.STAGING: (Status.IN_STOCK, Status.DEPLOYED, Status.IN_REPAIR),
    Status.DEPLOYED: (
        Status.IN_STOCK,
        Status.IN_REPAIR,
        Status.REBUILD,
        Status.LOST,
        Status.STOLEN,
    ),
    Status.IN_REPAIR: (Status.IN_STOCK, Status.REBUILD, Status.RETIRED),
    Status.REBUILD: (Status.IN_STOCK, Status.RETIRED),
    Status.LOST: (Status.IN_STOCK, Status.RETIRED),
    Status.STOLEN: (Status.IN_STOCK, Status.RETIRED),
    Status.RETIRED: (Status.IN_STOCK, Status.DISPOSED),
    Status.DISPOSED: (),
}

# A new asset arrives in stores or straight into enrolment.
CREATABLE: tuple[str, ...] = (Status.IN_STOCK, Status.STAGING)
# An install takes a tablet (and dock) from these.
INSTALLABLE: tuple[str, ...] = (Status.IN_STOCK, Status.STAGING)


def allowed_moves(current: str) -> tuple[str, ...]:
    return TRANSITIONS.get(current, ())


def check_status(value: str, field: str = "to") -> str:
    """A status from the vocabulary, or a 422 naming the accepted values."""
    if value not in Status.ALL:
        raise ValidationFailed.one(field, f"status must be one of {', '.join(Status.ALL)}")
    return value


def check_move(current: str, wanted: str) -> None:
    """Refuse a move that is not in the table, naming the moves that are."""
    if wanted not in allowed_moves(current):
        raise TransitionRefused(current, wanted, allowed_moves(current))


def move_problems(
    wanted: str,
    *,
    category: str,
    person_id: int | None,
    certificate_ref: str | None,
    in_vehicle: bool,
) -> list[FieldProblem]:
    """What a move to ``wanted`` still lacks (the table already allows the move)."""
    problems: list[FieldProblem] = []
    if wanted == Status.DEPLOYED:
        if person_id is None and not (category in Category.VEHICLE_KIT and in_vehicle):
            message = "deploying needs the person_id of the person it is issued to"
            if category in Category.VEHICLE_KIT:
                message += (
                    "; IVMA tablets and docks are deployed to a vehicle by fitting them"
                    " (POST /api/v1/vehicles/{vehicle_id}/installs)"
                )
            problems.append(FieldProblem("person_id", message))
    elif person_id is not None:
        problems.append(FieldProblem("person_id", "person_id is only used when deploying"))
    if wanted == Status.DISPOSED:
        if not certificate_ref:
            problems.append(
                FieldProblem(
                    "certificate_ref",
                    "disposal needs the waste disposal certificate reference",
                )
            )
    elif certificate_ref is not None:
        problems.append(
            FieldProblem("certificate_ref", "certificate_ref is only used when disposing")
        )
    return problems
