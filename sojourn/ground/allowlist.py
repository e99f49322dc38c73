"""Outbound HTTP that can't be turned against the network it runs in (SSRF).

A push endpoint is a URL a browser (or an attacker) supplies; a webhook URL comes from
settings. Either way the worker calls only what the allow-list names, and only there:

- An entry matches scheme, host and port: `fcm.googleapis.com` is https on 443,
  `hooks.example.com:8443` names its port, `*.push.apple.com` matches subdomains,
  `127.0.0.1:*` any port. Plain http only to loopback, and only when allowed.
- IPv6 zone identifiers (`[fe80::1%eth0]`) and credentials in the URL are refused.
- At send time the host is resolved and every address is checked: private, loopback,
  link-local, multicast and reserved ranges are refused (loopback only when
  SOJOURN_OUTBOUND_ALLOW_LOOPBACK, for local development). The connection goes to the
  addresses that were checked, so a name that resolves differently the second time
  (DNS rebinding) gains nothing.
- Redirects are never followed (see `no_redirects`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

LOOPBACK_NAMES = {"localhost"}
DEFAULT_PORTS = {"https": 443, "http": 80}


class OutboundRefused(OSError):
    """An address the worker must not connect to."""


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_refusal(address: str, allow_loopback: bool) -> str | None:
    ip = _address(address)
    if ip is None:
        return f"{address!r} is not an address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else f"{ip} is a loopback address"
    if ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return f"{ip} is a private or reserved address"
    return None


def _entry(pattern: str) -> tuple[str, str | None]:
    """`host`, `host:port`, `host:*`, `[v6]:port` -> (host pattern, port or None)."""
    pattern = pattern.strip().lower()
    if pattern.startswith("["):
        host, _, rest = pattern[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
        return host, port
    return pattern, None


def _is_loopback(host: str) -> bool:
    ip = _address(host)
    return host in LOOPBACK_NAMES or (ip is not None and ip.is_loopback)


def refuse_reason(url: str, allowed_hosts: list[str], what: str = "push service",
                  allow_loopback: bool = False) -> str | None:
    """None when `url` may be called; otherwise why not. The addresses it resolves to
    are checked again when connecting (`checked_session`)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https URL"
    if parts.username or parts.password:
        return "must not carry credentials"
    if "%" in host:
        return "must not carry an IPv6 zone identifier"
    if parts.scheme == "http" and not (_is_loopback(host) and allow_loopback):
        return "must be an https URL"
    setting = "SOJOURN_PUSH_ALLOWED_HOSTS" if what == "push service" else "SOJOURN_WEBHOOK_ALLOWED_HOSTS"
    for pattern in allowed_hosts:
        host_pattern, port_pattern = _entry(pattern)
        wanted_port = port_pattern or str(DEFAULT_PORTS["https"])
        if fnmatch.fnmatchcase(host, host_pattern) and (wanted_port == "*" or wanted_port == str(port)):
            break
    else:
        return f"{host}:{port} is not an allowed {what} ({setting})"
    if _address(host) is not None:  # an IP literal is never resolved: check it here
        refusal = address_refusal(host, allow_loopback)
        if refusal:
            return refusal
    elif host in LOOPBACK_NAMES and not allow_loopback:
        return f"{host} is a loopback address"
    return None


class CheckedResolver(AbstractResolver):
    """Resolves as usual, then refuses the whole name if any address is off limits:
    aiohttp connects to exactly the addresses returned here."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            refusal = address_refusal(result["host"], self.allow_loopback)
            if refusal:
                raise OutboundRefused(f"{host} resolves to {refusal}")
        return found

    async def close(self) -> None:
        await self._inner.close()


def checked_session(allow_loopback: bool, **options: Any) -> aiohttp.ClientSession:
    """An aiohttp session whose connections only reach checked addresses."""
    connector = aiohttp.TCPConnector(resolver=CheckedResolver(allow_loopback))
    return aiohttp.ClientSession(connector=connector, **options)


def refused(exc: BaseException) -> OutboundRefused | None:
    """The OutboundRefused behind an aiohttp connection error, if that is what it was."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, OutboundRefused):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__ or seen.__context__
    return None


class no_redirects:  # noqa: N801 - used like a function
    """An aiohttp session for pywebpush that never follows a redirect: a 30x from a
    push service must not take the worker (and a 307's re-sent POST) elsewhere."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def post(self, url: str, **options: Any) -> Any:
        return self._session.post(url, allow_redirects=False, **options)
