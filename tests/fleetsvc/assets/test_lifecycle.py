"""The lifecycle table, checked against DESIGN.md's table written out independently."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fleetsvc.assets.lifecycle import (
    TRANSITIONS,
    check_move,
    check_status,
    move_problems,
)
from fleetsvc.errors import TransitionRefused, ValidationFailed
from fleetsvc.vocabulary import AssetStatus, Category

# DESIGN.md "Asset lifecycle", copied by hand: the code's table must say the same.
DESIGN = {
    "in_stock": {"staging", "deployed", "in_repair", "rebuild", "lost", "retired"},
    "staging": {"in_stock", "deployed", "in_repair"},
    "deployed": {"in_stock", "in_repair", "rebuild", "lost", "stolen"},
    "in_repair": {"in_stock", "rebuild", "retired"},
    "rebuild": {"in_stock", "retired"},
    "lost": {"in_stock", "retired"},
    "stolen": {"in_stock", "retired"},
    "retired": {"in_stock", "disposed"},
    "disposed": set(),
}


def test_table_matches_the_design() -> None:
    assert set(AssetStatus) == set(DESIGN)
    assert {k: set(v) for k, v in TRANSITIONS.items()} == DESIGN


@pytest.mark.parametrize("current", sorted(DESIGN))
@pytest.mark.parametrize("wanted", sorted(DESIGN))
def test_check_move(current: str, wanted: str) -> None:
    if wanted in DESIGN[current]:
        check_move(current, wanted)
    else:
        with pytest.raises(TransitionRefused) as info:
            check_move(current, wanted)
        assert set(info.value.allowed) == DESIGN[current]
        assert current in info.value.message and wanted in info.value.message


def test_disposed_is_final() -> None:
    with pytest.raises(TransitionRefused, match="the status is final"):
        check_move("disposed", "in_stock")


def test_unknown_status_names_the_accepted_ones() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_status("flying")
    assert "in_stock" in info.value.problems[0].message


def test_deploying_needs_a_person_unless_kit_is_in_a_vehicle() -> None:
    def fields(**kw: object) -> list[str]:
        base: dict[str, Any] = {
            "category": "smartphone",
            "person_id": None,
            "certificate_ref": None,
        }
        return [p.field for p in move_problems("deployed", in_vehicle=False, **{**base, **kw})]

    assert fields() == ["person_id"]
    assert fields(person_id=3) == []
    assert fields(category=Category.IVMA_TABLET) == ["person_id"]
    ok = move_problems(
        "deployed",
        category=Category.IVMA_TABLET,
        person_id=None,
        certificate_ref=None,
        in_vehicle=True,
    )
    assert ok == []


def test_disposal_needs_a_certificate() -> None:
    def fields(to: str, cert: str | None, person: int | None = None) -> list[str]:
        return [
            p.field
            for p in move_problems(
                to, category="smartphone", person_id=person, certificate_ref=cert, in_vehicle=False
            )
        ]

    assert fields("disposed", None) == ["certificate_ref"]
    assert fields("disposed", "WCN-1") == []
    assert fields("lost", "WCN-1") == ["certificate_ref"]
    assert fields("lost", None, person=4) == ["person_id"]


def _readme_table() -> dict[str, set[str]]:
    """The README's lifecycle table (``| `from` | `to`, `to` |``), as the user reads it."""
    text = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    start = text.index("| from | to |")
    table: dict[str, set[str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        source, targets = (cell.strip() for cell in line.strip("|").split("|"))
        table[source.strip("`")] = set(re.findall(r"`([a-z_]+)`", targets))
    return table


def test_the_readme_table_is_the_code_table() -> None:
    assert _readme_table() == {k: set(v) for k, v in TRANSITIONS.items()}
