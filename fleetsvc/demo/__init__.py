"""The demo fleet: a register shaped like the real programme, loaded through the domain's
own checks and bulk paths and the supplier files' imports, only once, and only ever beside
what the register holds.

10,000 Galaxy A32 handsets in service during 2021/22 and 29,737 in 2022/23 on the Vodafone
handset contract, with SIMs on the airtime contract; about 2,500 IVMA tablets with docks
fitted to response vehicles by Babcock in 2021/22, 200 spare tablets rebuilt and issued to
special constables; a NetMotion licence pool; about 45,000 people across business units.
The refresh forecast then shows £3.0m of handsets due in 2024/25 and £8.9m in 2025/26.

- ``shape``: how big the demo is, its names and numbers, the identifiers it makes up.
- ``reference``: business units, people, vehicles, device models.
- ``procurement``: suppliers, contracts, purchase orders.
- ``files``: the supplier files it imports (Vodafone, CDW, Babcock).
- ``deliveries``: importing them, each committed with the demo's record of it.
- ``fleet``: handsets and spare tablets issued, licence seats for the fitted tablets.
- ``provenance``: the steps done and the records created, so nothing is done twice and
  nothing the demo did not create is touched.
- ``load``: the story in order (``load_demo``).
"""
