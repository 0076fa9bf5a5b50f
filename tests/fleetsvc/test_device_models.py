"""Resolving a supplier's row to a device model: by part number, then by manufacturer and
alias (or the model's own name)."""

from __future__ import annotations

from db.engine import connection
from fleetsvc.device_models import ModelKey, resolve_model, resolve_models
from tests.api.test_device_models import new_model
from tests.conftest import ClientFactory, unique


async def test_resolve_model_by_part_number_then_alias(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    maker = unique("Maker")
    pn = unique("PN")
    by_pn = await new_model(eng, manufacturer=maker, part_numbers=[pn])
    by_alias = await new_model(eng, manufacturer=maker, aliases=["Rugged Tablet 8in"])
    async with connection() as conn:
        assert (
            await resolve_model(
                conn, part_number=f" {pn.lower()}", manufacturer=None, description=None
            )
            == by_pn["id"]
        )
        # The part number wins over the description.
        assert (
            await resolve_model(
                conn, part_number=pn, manufacturer=maker, description="rugged tablet 8in"
            )
            == by_pn["id"]
        )
        assert (
            await resolve_model(
                conn,
                part_number="NO-SUCH-PART",
                manufacturer=f" {maker.upper()} ",
                description="RUGGED  Tablet 8in",
            )
            == by_alias["id"]
        )
        assert await resolve_models(
            conn,
            [
                ModelKey(description="Rugged Tablet 8in"),  # no maker: not enough
                ModelKey(manufacturer=maker, description=str(by_pn["model_name"]).upper()),
                ModelKey(part_number=pn),
                ModelKey(),
            ],
        ) == [None, by_pn["id"], by_pn["id"], None]
