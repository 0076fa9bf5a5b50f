"""Supplier delivery imports: a file uploaded, staged, classified row by row, then applied.

- ``run``: an import from the uploaded file to its report (preview or commit), and the
  commit of an import previewed earlier.
- ``commit_jobs``: commits as jobs (``import.commit``), run by the process that received
  them, waited for or answered 202, and failed cleanly when interrupted.
- ``profiles``: which profile reads the file; ``staging``: its rows COPYed in, batch by batch.
- ``evaluate``: the one transaction that classifies, reports, decides and applies.
- ``plan``: the plan table and its rules; ``plan_deliveries`` and ``plan_installs``: how a
  row is decided new, unchanged, a duplicate, a conflict or rejected.
- ``orders``: purchase-order lines ordered, delivered, over-delivered; licence lines.
- ``report``: the file's warnings, the row issues and the rejected rows.
- ``apply_deliveries``, ``apply_licences``, ``apply_installs``: the set-based writes.
- ``summary``: the import summary and counts as Structs; ``queries``: reading imports.
"""
