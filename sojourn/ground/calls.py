"""One accepted Segment call (track, identify, page, screen, group, alias), as the
pipeline stores and routes it: Segment calls them calls; the ledger's sent messages are
`models.Message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


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
