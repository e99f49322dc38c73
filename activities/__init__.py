"""Side effects of journeys: sends through channels and ledger writes.

Workflows import only `sojourn.ground.contracts` (plain dataclasses); the modules here
that talk to SMTP, push services and the database are loaded by the worker alone.
"""
