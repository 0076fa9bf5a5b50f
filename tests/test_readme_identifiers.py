"""The README's examples use identifiers the API accepts (a reader pastes them)."""

from __future__ import annotations

import re
from pathlib import Path

from importers.fields import normalise_iccid, normalise_imei
from tests.readme import without_refused

README = without_refused((Path(__file__).resolve().parent.parent / "README.md").read_text())


def test_readme_imeis_and_iccids_are_valid() -> None:
    imeis = re.findall(r'"imei": "([^"]+)"|imei=([0-9]+)', README)
    iccids = re.findall(r'"iccid": "([^"]+)"', README)
    assert imeis and iccids
    for pair in imeis:
        value = pair[0] or pair[1]
        assert normalise_imei(value) == (value, None), value
    for value in iccids:
        assert normalise_iccid(value) == value
