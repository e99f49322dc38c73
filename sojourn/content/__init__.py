"""Content: what a message says, versioned in the database and changed by the
marketer (store.py); journeys only name it."""
