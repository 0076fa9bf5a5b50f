"""Stocktakes by scan: counting the devices kept at one location with a barcode scanner.

- ``documents``: the requests and answers (the stocktake, a scan's answer, the result's
  sections and lines).
- ``codes``: codes as a scanner types them, read as each identifier they could be.
- ``service``: opening one (one open stocktake per location), reading one, listing them.
- ``scans``: a batch of up to 1,000 scans recorded and answered in one statement.
- ``result``: the sections, worked out live while open and read as frozen once closed.
- ``close``: freezing the result and making the moves chosen, as events.
- ``report``: the whole result as CSV and XLSX.
"""
