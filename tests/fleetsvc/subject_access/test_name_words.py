"""``own_name_words``: the words of a name that name its person alone, the one rule that
retention (run as the service) and ``audit_forget_free_text`` (run as the owner) both call."""

from __future__ import annotations

from db.engine import connection
from tests.conftest import ClientFactory, unique


async def _words(people: list[int | None]) -> set[tuple[int, str]]:
    async with connection() as conn:
        rows = await conn.fetch("SELECT person_id, word FROM own_name_words($1::int[])", people)
    return {(r["person_id"], r["word"]) for r in rows}


async def test_a_word_is_theirs_alone_when_no_one_else_has_it(client_for: ClientFactory) -> None:
    admin = await client_for("admin")
    n = unique().lower()

    async def person(name: str) -> int:
        r = await admin.post(
            "/api/v1/people", json={"employee_number": unique("E"), "display_name": name}
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    # A name they had before counts (its event keeps it); a word of two characters, or of
    # no letter, names no one; a word someone who stays has names no one in particular.
    a = await person(f"Zed{n} Old{n} Ek Common{n} 1234")
    r = await admin.patch(f"/api/v1/people/{a}", json={"display_name": f"Zed{n} New{n}"})
    assert r.status_code == 200, r.text
    c = await person(f"Zed{n} Third{n}")
    await person(f"Other{n} Common{n}")

    assert await _words([a]) == {(a, f"new{n}"), (a, f"old{n}")}  # "zed…" is c's too
    together = {(a, f"zed{n}"), (a, f"new{n}"), (a, f"old{n}"), (c, f"zed{n}"), (c, f"third{n}")}
    assert await _words([a, c]) == together  # both go: "zed…" is theirs alone
    assert await _words([c, None, a, a]) == together  # a NULL or an id twice changes nothing
    assert await _words([]) == set()
