"""The database and the workflow: scenario import, bookings, plans, exports, CLI.

Turns rows into routing problems, calls ``routing``, stores the results.
"""
