"""Jobs: long work kept in PostgreSQL and run by any worker of any replica.

``kinds`` is the registry of what a job can be, ``queue`` the SQL that enqueues, claims,
renews and finishes jobs, ``worker`` the loop that runs them, ``schedule`` the recurring
ones, ``service`` what the API and CLI read and cancel, ``tasks`` the service's own kinds.
"""
