"""The event pipeline: store what the API accepted, then route it to the journeys.

    api/ ──accept──▶ store (one transaction: events + what they change on the profile)
                        │
                        ▼
                     events table (the durable queue: pending → routed | dead)
                        │
                        ▼
                     router (per customer, in order; entries decided once) ──▶ Temporal

It reads journey declarations (sojourn/ground/spec.py), never journey code, and runs
inside `sojourn api` or alone as `sojourn router`; replicas share the work through
the database.
"""
