"""The asset lifecycle as data: the statuses, the one table of allowed moves,
and the rules a move must meet. Nothing else in the code decides whether a
status may change; the asset services ask here."""

from __future__ import annotations

from collections.abc import Mapping

from fleetsvc.errors import FieldProblem, TransitionRefused, ValidationFailed
from fleetsvc.vocabulary import VEHICLE_KIT, AssetStatus

# The only statement of which moves are allowed (the README's lifecycle table says the same;
# tests/fleetsvc/assets/test_lifecycle.py holds the two together).
TRANSITIONS: Mapping[str, tuple[AssetStatus, ...]] = {
    AssetStatus.IN_STOCK: (
        AssetStatus.STAGING,
        AssetStatus.DEPLOYED,
        AssetStatus.IN_REPAIR,
        AssetStatus.REBUILD,
        AssetStatus.LOST,
        AssetStatus.RETIRED,
    ),
    AssetStatus.STAGING: (AssetStatus.IN_STOCK, AssetStatus.DEPLOYED, AssetStatus.IN_REPAIR),
    AssetStatus.DEPLOYED: (
        AssetStatus.IN_STOCK,
        AssetStatus.IN_REPAIR,
        AssetStatus.REBUILD,
        AssetStatus.LOST,
        AssetStatus.STOLEN,
    ),
    AssetStatus.IN_REPAIR: (AssetStatus.IN_STOCK, AssetStatus.REBUILD, AssetStatus.RETIRED),
    AssetStatus.REBUILD: (AssetStatus.IN_STOCK, AssetStatus.RETIRED),
    AssetStatus.LOST: (AssetStatus.IN_STOCK, AssetStatus.RETIRED),
    AssetStatus.STOLEN: (AssetStatus.IN_STOCK, AssetStatus.RETIRED),
    AssetStatus.RETIRED: (AssetStatus.IN_STOCK, AssetStatus.DISPOSED),
    AssetStatus.DISPOSED: (),
}


def allowed_moves(current: str) -> tuple[AssetStatus, ...]:
    return TRANSITIONS.get(current, ())


def check_status(value: str, field: str = "to") -> str:
    """A status from the vocabulary, or a 422 naming the accepted values."""
    if not AssetStatus.has(value):
        raise ValidationFailed.one(field, f"status must be one of {AssetStatus.listed()}")
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
    if wanted == AssetStatus.DEPLOYED:
        if person_id is None and not (category in VEHICLE_KIT and in_vehicle):
            message = "deploying needs the person_id of the person it is issued to"
            if category in VEHICLE_KIT:
                message += (
                    "; IVMA tablets and docks are deployed to a vehicle by fitting them"
                    " (POST /api/v1/vehicles/{vehicle_id}/installs)"
                )
            problems.append(FieldProblem("person_id", message))
    elif person_id is not None:
        problems.append(FieldProblem("person_id", "person_id is only used when deploying"))
    if wanted == AssetStatus.DISPOSED:
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
