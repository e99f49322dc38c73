"""Journeys as Temporal workflows. Deterministic code only: no I/O library is
imported anywhere under this package (tests/test_workflow_imports.py checks it)."""
