"""The events an MDM sync writes: one ``mdm_synced`` per changed asset, written by the sync's
own statement, which stores the MDM user's UPN apart (``audit``'s personal values) exactly as
the audit trail's general writer would."""

from __future__ import annotations

import msgspec

from db.engine import connection
from fleetsvc import audit
from tests import factories
from tests.api.test_mdm import events_of, graph_record, push
from tests.conftest import ClientFactory, unique


def test_the_mdm_user_upn_is_the_only_personal_field_of_an_mdm_event() -> None:
    # The sync's event statement stores this field apart and no other: a personal field
    # added to assets that its events carry must be added there too. (An asset's free text,
    # its notes and a move's reason, is never in them.)
    from fleetsvc.mdm.apply import _FACTS

    carried = {f[0] for f in _FACTS} & set(audit.PERSONAL_FIELDS["asset"])
    assert carried == {"mdm_user_upn"}
    assert audit.PERSONAL_FIELDS["asset"]["mdm_user_upn"] == audit.BY_UPN


async def test_a_changed_user_is_stored_apart_on_both_sides_owned_by_upn(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    person = await factories.person()
    asset = await factories.asset()
    first, second = unique("u") + "@force.example", person["upn"].upper()
    device = unique("mdm-").lower()
    await push(
        mdm,
        unique("run-"),
        1,
        [graph_record(serial=asset["serial_number"], device_id=device, upn=first)],
    )
    await push(
        mdm,
        unique("run-"),
        1,
        [graph_record(serial=asset["serial_number"], device_id=device, upn=second)],
    )

    events = await events_of(asset["id"])
    assert [e["after"].get("mdm_user_upn") for e in events] == [first, second]
    assert events[1]["before"] == {"mdm_user_upn": first}
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT before, after FROM event WHERE entity = 'asset' AND entity_id = $1"
            " AND action = 'mdm_synced' ORDER BY id",
            asset["id"],
        )
        stored = [
            (msgspec.json.decode(r["before"] or "null"), msgspec.json.decode(r["after"]))
            for r in rows
        ]
        # In the event, only references; the values and their owners in personal_value.
        ref_before = stored[1][0]["mdm_user_upn"][audit.REF]
        ref_after = stored[1][1]["mdm_user_upn"][audit.REF]
        values = {
            r["id"]: (r["person_id"], r["field"], r["value"])
            for r in await conn.fetch(
                "SELECT id, person_id, field, value FROM personal_value WHERE id = ANY($1)",
                [ref_before, ref_after],
            )
        }
    assert values[ref_before] == (None, "mdm_user_upn", first)
    assert values[ref_after] == (person["id"], "mdm_user_upn", second)
    assert "@" not in str(stored)
