"""The README's examples use identifiers the API accepts (a reader pastes them)."""

from __future__ import annotations

import re
from pathlib import Path

from importers.fields import normalise_iccid, normalise_imei
from tests.readme import blocks

_TEXT = (Path(__file__).resolve().parent.parent / "README.md").read_text()
# An example the README says is refused (`# → 422`) shows a bad identifier on purpose.
_REFUSED = [
    step.script
    for block in blocks(_TEXT)
    if block.runs
    for step in block.steps()
    if step.check is not None and step.check.status == 422
]
README = _TEXT
for refused in _REFUSED:
    README = README.replace(refused, "")


def test_readme_imeis_and_iccids_are_valid() -> None:
    imeis = re.findall(r'"imei": "([^"]+)"|imei=([0-9]+)', README)
    iccids = re.findall(r'"iccid": "([^"]+)"', README)
    assert imeis and iccids
    for pair in imeis:
        value = pair[0] or pair[1]
        assert normalise_imei(value) == (value, None), value
    for value in iccids:
        assert normalise_iccid(value) == value
