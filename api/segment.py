"""Segment's HTTP Tracking API message format: parsing, limits and validation.

Bodies are read raw (so gzip and the size limits are enforced before JSON parsing)
and every message of a batch is validated before anything is written: a batch is
accepted whole or refused whole, with the offending field named.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_ID = 255


class BadRequest(Exception):
    """A 4xx with a message that names what is wrong."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


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


def read_body(raw: bytes, content_encoding: str | None) -> Any:
    """Decompress (gzip) within the batch limit, then parse JSON."""
    if len(raw) > MAX_BATCH_BYTES:
        raise BadRequest(f"request body is {len(raw)} bytes; the limit is {MAX_BATCH_BYTES}", 413)
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        # Bounded decompression: a small gzip bomb must not expand past the limit.
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, MAX_BATCH_BYTES + 1)
        except zlib.error as exc:
            raise BadRequest(f"body is not valid gzip: {exc}") from exc
        if len(raw) > MAX_BATCH_BYTES or inflater.unconsumed_tail:
            raise BadRequest(f"decompressed body is over the {MAX_BATCH_BYTES}-byte limit", 413)
    elif encoding not in ("identity", ""):
        raise BadRequest(f"Content-Encoding {content_encoding!r} is not supported (use gzip)", 415)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


def _optional_str(raw: dict[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRequest(f"{where}{key} must be a string")
    value = str(value)
    if len(value) > MAX_ID:
        raise BadRequest(f"{where}{key} is longer than {MAX_ID} characters")
    return value


def _object(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where}{key} must be an object")
    return value


def _timestamp(raw: dict[str, Any], where: str) -> datetime:
    value = raw.get("timestamp")
    if value is None:
        return datetime.now(timezone.utc)
    if not isinstance(value, str):
        raise BadRequest(f"{where}timestamp must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{where}timestamp is not ISO-8601: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _derived_message_id(raw: dict[str, Any]) -> str:
    # Segment's libraries always set messageId. A hand-written call without one but
    # with a timestamp gets an id derived from its content, so retrying the very same
    # call stays idempotent; without a timestamp there is nothing stable to key on.
    if raw.get("timestamp"):
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
        return f"sojourn-{digest[:32]}"
    return f"sojourn-{uuid.uuid4()}"


def parse_message(raw: Any, *, type_: str | None = None, where: str = "", defaults: dict[str, Any] | None = None) -> Message:
    """Validate one message. `where` prefixes field names, e.g. "batch[3].". """
    if not isinstance(raw, dict):
        raise BadRequest(f"{where or 'body'} must be a JSON object".strip("."))
    size = len(json.dumps(raw, separators=(",", ":"), default=str).encode())
    if size > MAX_MESSAGE_BYTES:
        raise BadRequest(
            f"{where.rstrip('.') or 'message'} is {size} bytes; the limit is {MAX_MESSAGE_BYTES} per message", 413
        )
    kind = type_ or raw.get("type")
    if kind not in TYPES:
        raise BadRequest(f"{where}type must be one of {', '.join(TYPES)} (got {kind!r})")
    user_id = _optional_str(raw, "userId", where)
    anonymous_id = _optional_str(raw, "anonymousId", where)
    if user_id is None and anonymous_id is None:
        raise BadRequest(f"{where}userId or {where}anonymousId is required")
    name: str | None
    if kind == "track":
        name = _optional_str(raw, "event", where)
        if name is None:
            raise BadRequest(f"{where}event is required for a track call")
    else:
        name = _optional_str(raw, "name", where)
    context = {**(defaults or {}).get("context", {}), **_object(raw, "context", where)}
    properties = _object(raw, "properties", where)
    if kind in ("page", "screen") and name is None:
        name = properties.get("name") if isinstance(properties.get("name"), str) else None
    return Message(
        type=kind,
        message_id=_optional_str(raw, "messageId", where) or _derived_message_id(raw),
        customer_id=user_id or anonymous_id or "",
        user_id=user_id,
        anonymous_id=anonymous_id,
        name=name,
        properties=properties,
        traits=_object(raw, "traits", where) or _object(context, "traits", f"{where}context."),
        context=context,
        timestamp=_timestamp(raw, where),
    )


def parse_batch(body: Any) -> list[Message]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object with a batch array")
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise BadRequest("batch is required and must be an array")
    if not batch:
        raise BadRequest("batch is empty")
    defaults = {"context": _object(body, "context", "")}
    return [parse_message(item, where=f"batch[{i}].", defaults=defaults) for i, item in enumerate(batch)]
