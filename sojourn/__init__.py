"""Sojourn's shared pieces: settings, database models, VAPID keys, the CLI and the dev stack."""
