"""Leaver recovery: when a person leaves, a case lists every device they hold (and the
licence seats on each); each line closes when its device comes back or is written off, and
the case closes with its last line. Open past its due date, a case is overdue.

- ``cases``: opening cases for people who became leavers, and settling the lines of devices
  that moved (``settle``, called in the transaction of every move out of ``deployed``).
- ``write_off``: a line written off with a reason, its device marked lost.
- ``queries``: the cases as the API lists and shows them, and the overdue count.

Why in code and not a trigger: the lines close inside ``fleetsvc.assets.moves.apply_move``
and ``batch_moves.move_assets`` (every move out of ``deployed`` goes through one of the
two, stocktake closes included), so they close in the move's own transaction *and* write
their events with the caller as actor, which a trigger cannot know. The database keeps the
promise that matters whatever path writes: a constraint trigger refuses, at commit, a
leaver holding a device no open line lists, and a line closed while its device is still
with the leaver (migration ``2026-12-04T01:00:01``).
"""
