"""Notices: once a day, what needs someone's attention, sent to a webhook and/or by e-mail.

``content`` builds the notice from the register; ``delivery`` signs and posts it, or
mails it. The daily job that does both is the ``notice.send`` kind (``fleetsvc.jobs.tasks``).
"""
