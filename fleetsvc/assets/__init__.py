"""Assets: one physical, serialised device each, and everything done to it.

- ``document``: the asset as the API shows it (the ``Asset`` Struct) and the SQL that
  has PostgreSQL write it as JSON, declared once.
- ``fields``: an asset's fields normalised and checked (serial, strict IMEI, money,
  dates, the model, contract and purchase order it names).
- ``register``: registering one asset or a batch of up to 1000.
- ``lookup``: one asset by id, a page of a filtered list, what a person holds.
- ``filters``: the list's filters and free-text search, as index-backed SQL.
- ``changes``: changing an asset's recorded facts (PATCH).
- ``lifecycle``: the table of allowed moves and the rules a move must meet.
- ``moves``: transitions, and ``apply_move``, through which every move goes (installs
  too), ending the holding the asset leaves.
- ``history``: an asset's timeline from the audit trail.

SIMs (``fleetsvc.sims``) and vehicle installs (``fleetsvc.installs``) are their own
modules; installs move kit through ``fleetsvc.assets.moves``.
"""
