"""MDM sync and reconciliation: the MDM's device list brought together with the register.

Records arrive by push (API batches), from the MDM console's export file, or by pull
(the Graph API, see ``fleetsvc.mdm.graph``). Each batch is checked record by record
(``checks``); the good records are then matched and applied with set-based SQL inside the
caller's one transaction (``apply``): COPY into a staging table, match by serial then IMEI,
one event for each asset whose MDM facts changed, upsert every record into ``mdm_device``
(an asset's MDM device and facts are its primary record there: no asset row is written).
A rejected record is listed in the run's report (``runs``); it never stops the rest of its
batch, and a batch is applied whole or not at all. ``sync`` feeds a run its
batches (a push, the export file, the Graph API's pages); ``reconcile`` is the report.
"""
