"""The parsers by the names profiles use (importers/fields/parsers.py)."""

from importers.fields import (
    PARSERS,
)

IMEI = "352099001761481"


def test_registry_covers_the_parsers_profiles_use() -> None:
    expected = {"text", "upper", "serial", "imei", "iccid", "msisdn", "vrm", "date", "timestamp"}
    assert expected | {"money", "quantity", "enum"} <= set(PARSERS)
    value, warning = PARSERS["imei"](352099001761481, "352099001761481", {})
    assert (value, warning) == (IMEI, None)
