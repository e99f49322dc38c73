"""Outbound URL allow-list. A push endpoint is a URL the client supplies; the worker
must never POST to an address outside the configured hosts (SSRF)."""

from __future__ import annotations

import fnmatch
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def refuse_reason(url: str, allowed_hosts: list[str], what: str = "push service") -> str | None:
    """None when `url` may be called; otherwise why not."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https URL"
    if parts.username or parts.password:
        return "must not carry credentials"
    if parts.scheme == "http" and host not in LOOPBACK:
        return "must be an https URL"
    if not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in allowed_hosts):
        setting = "SOJOURN_PUSH_ALLOWED_HOSTS" if what == "push service" else "SOJOURN_WEBHOOK_ALLOWED_HOSTS"
        return f"host {host!r} is not an allowed {what} ({setting})"
    return None
