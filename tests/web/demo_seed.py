"""``python -m tests.web.demo_seed``: the demo fleet in ``DATABASE_URL``'s database with the
programme's handsets in full and the rest small, so the refresh forecast shows the demo's own
figures (£3,000,000.00 in 2024/25, £8,921,100.00 in 2025/26) after a few seconds' loading.
For the browser tests, which each run on a database of their own."""

from __future__ import annotations

from fleetsvc.commands.common import cli_actor, load, run_with_database
from fleetsvc.demo.load import load_demo
from fleetsvc.demo.shape import DemoSize

SIZE = DemoSize(people=2_000, specials=20, staff=500, vehicles=40, tablets=50, netmotion_seats=60)


def main() -> None:
    run_with_database(load(), lambda: load_demo(cli_actor(), size=SIZE))


if __name__ == "__main__":
    main()
