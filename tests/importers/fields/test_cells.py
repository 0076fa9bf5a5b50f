"""A cell's text as a spreadsheet shows it (importers/fields/cells.py)."""

import datetime as dt

from importers.fields import (
    cell_text,
)


def test_cell_text_of_spreadsheet_values() -> None:
    assert cell_text(352099001761481.0) == "352099001761481"
    assert (
        cell_text(8.9441e18) == "8.9441e+18"
    )  # too big to be exact: left for the parser to refuse
    assert cell_text(dt.datetime(2021, 11, 22)) == "2021-11-22"
    assert cell_text(None) == ""
