"""Registering writes every field a caller can give."""

from __future__ import annotations

from fleetsvc.assets.register import _INSERT_COLUMNS, AssetCreate


def test_every_field_of_a_new_asset_is_inserted() -> None:
    # A field added to AssetCreate and not to the INSERT would be checked and then dropped.
    assert [column for column, _ in _INSERT_COLUMNS] == list(AssetCreate.__struct_fields__)
