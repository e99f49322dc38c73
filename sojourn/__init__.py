"""Sojourn's own package, in layers; each imports only the layers below it
(the import-linter contracts in pyproject.toml hold it to that):

    devtools/                         the CLI, the dev stack, the simulator, the demo shop,
                                      the local SMTP catcher and push inbox
    pipeline/   analytics/            accepting and routing events; what marketers read
    identity/ coupons/ audiences/     the capabilities, one room each
    intelligence/ links/
    ground/                           settings, database, models, signing, and the pure
                                      contracts every layer shares

The user's own top level sits beside it: api/ and worker.py (entry points), workflows/
(the journeys and their kit) and activities/ (every side effect)."""
