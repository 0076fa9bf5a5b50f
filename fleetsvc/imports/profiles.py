"""Which profile reads an import's file, and whether it can feed the staging table.

A profile is data (a TOML file can add one without code), so its parsers are checked against
the staging columns they would fill: a date column needs the date parser, and so on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.imports.staging import STAGED_FIELDS
from importers import Profile, ProfileError, all_profiles
from importers import get_profile as find_profile

MDM_MESSAGE: Final = (
    "intune-devices files are not delivery imports: use `fleetsvc mdm sync --file` "
    "or POST /api/v1/mdm/sync"
)

# The staging column's type decides which parsers can feed it (a profile is data, so check).
_TYPED_PARSERS: Final = {
    "delivered_on": {"date"},
    "completed_on": {"date"},
    "left_on": {"date"},
    "quantity": {"quantity"},
    "unit_cost": {"money"},
}
_TEXT_PARSERS: Final = {
    "text",
    "upper",
    "serial",
    "imei",
    "iccid",
    "msisdn",
    "vrm",
    "enum",
    "upn",
}


def import_profile(name: str, extra_dirs: Sequence[Path] = ()) -> Profile:
    """The profile for a delivery import; ValidationFailed (listing profiles) if unusable."""
    try:
        profile = find_profile(name, extra_dirs)
    except ProfileError as exc:
        raise ValidationFailed([FieldProblem("profile", exc.message)], exc.message) from None
    if profile.kind == "mdm":
        raise ValidationFailed([FieldProblem("profile", MDM_MESSAGE)], MDM_MESSAGE)
    problems = []
    for spec in profile.fields:
        if spec.name not in STAGED_FIELDS:
            continue
        allowed = _TYPED_PARSERS.get(spec.name, _TEXT_PARSERS)
        if spec.parser not in allowed:
            problems.append(
                FieldProblem(
                    "profile",
                    f"profile {profile.name}: field {spec.name} needs a "
                    f"{' or '.join(sorted(allowed))} parser, not {spec.parser}",
                )
            )
    if problems:
        raise ValidationFailed(problems)
    return profile


def delivery_profiles(extra_dirs: Sequence[Path] = ()) -> list[Profile]:
    """The profiles an upload may choose (not the MDM's export), by name."""
    return sorted(
        (p for p in all_profiles(extra_dirs).values() if p.kind != "mdm"), key=lambda p: p.name
    )
