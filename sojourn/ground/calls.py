"""One accepted Segment call (track, identify, page, screen, group, alias), as the
pipeline stores and routes it: Segment calls them calls; the ledger's sent messages are
`models.Message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Anonymous ids and user ids are two namespaces: a visitor's profile, her events and
# her journeys are filed under "anonymous:<her anonymousId>", a customer's under her
# userId, so an anonymous id can never be taken for a user id (a browser claiming
# "user-1002" claims "anonymous:user-1002", which the real user-1002 never is).
# A userId may not begin with the prefix (api/calls.py).
ANONYMOUS_PREFIX = "anonymous:"


def anonymous_customer(anonymous_id: str) -> str:
    """The id a visitor's profile is filed under while she is anonymous."""
    return ANONYMOUS_PREFIX + anonymous_id


def anonymous_id_of(customer_id: str) -> str | None:
    """Her anonymousId, if `customer_id` is an anonymous visitor's; else None."""
    return customer_id[len(ANONYMOUS_PREFIX):] if customer_id.startswith(ANONYMOUS_PREFIX) else None


@dataclass
class Call:
    type: str
    message_id: str
    customer_id: str
    user_id: str | None
    anonymous_id: str | None
    name: str | None  # track: event; page/screen: name
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    previous_id: str | None = None  # an alias's previousId
    # Whether the choices it carries (context.consent) may be recorded as hers: the
    # shop's backend's calls, or her own browser's with her proof (api/proof.py).
    consent_proven: bool = False
    # Whether the link it carries (identify's anonymousId, alias's previousId) may be
    # made: a browser links only an anonymous id it proves (api/proof.py).
    may_link: bool = True
    # Sent with a server key (the shop's backend): what the catalog and popularity trust
    # (sojourn/intelligence/catalog.py); stored as the event's `source`.
    from_server: bool = False
    # The shop's past, not a live event: imported (POST /v1/import), or older than the
    # entry window when it arrived. It updates her facts, segments and the catalog, and
    # starts and wakes no journey (sojourn/pipeline/store.py).
    history: bool = False
