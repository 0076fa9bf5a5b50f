"""A profile's row rules, checked on each converted row (importers/row_rules.py)."""

from tests.importers.files import (
    BABCOCK_HEADER,
    CDW_HEADER,
    VODAFONE_HEADER,
    babcock_row,
    cdw_row,
    messages,
    parse,
    vodafone_row,
)

# --- row rules -----------------------------------------------------------------------------------


def test_cdw_rules() -> None:
    lines = [
        CDW_HEADER,
        cdw_row(serial="", key="NMX-1", qty="250"),  # licence seats
        cdw_row(serial="", key=""),  # neither
        cdw_row(serial="PF1", qty="2"),  # serialised but two items
    ]
    _, rows = parse(lines, "cdw-asn")
    assert rows[0].ok and rows[0].values["quantity"] == 250
    assert messages([rows[1]]) == ["the row has neither a Serial # nor a Licence Key"]
    (error,) = rows[2].errors
    assert error.column == "Qty Shipped" and error.value == "2" and "must be 1" in error.message


def test_vodafone_quantity_must_be_one() -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row()[:-1] + "3"])
    assert messages([row]) == ["Quantity must be 1: a despatch row is one handset"]


def test_babcock_status_and_rules() -> None:
    lines = [
        BABCOCK_HEADER,
        babcock_row("COMPLETED"),
        babcock_row("aborted", tablet="", date=""),
        babcock_row("Completed", tablet=""),
        babcock_row("Done"),
    ]
    _, rows = parse(lines, "babcock-install")
    assert (
        rows[0].ok
        and rows[0].values["job_status"] == "completed"
        and rows[0].values["vrm"] == "BX21AAA"
    )
    assert rows[0].values["fleet_number"] == "00001"  # text: leading zeros kept
    assert rows[1].ok and rows[1].values["job_status"] == "aborted"
    assert messages([rows[2]]) == ["Tablet Serial is required when Job Status is completed"]
    assert messages([rows[3]]) == ["must be one of: aborted, completed, deferred"]


def test_required_value_missing() -> None:
    _, (row,) = parse([VODAFONE_HEADER, vodafone_row("")])
    (error,) = row.errors
    assert (error.column, error.message) == ("IMEI", "a value is required")
