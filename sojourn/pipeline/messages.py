"""One accepted Segment message, as the pipeline stores and routes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class Message:
    type: str
    message_id: str
    customer_id: str
    user_id: str | None
    anonymous_id: str | None
    name: str | None  # track: event; page/screen: name
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    previous_id: str | None = None  # an alias's previousId
