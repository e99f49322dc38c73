"""Segment's HTTP Tracking API message format: parsing, limits and validation.

Bodies are read raw (so gzip and the size limits are enforced before JSON parsing)
and every message of a batch is validated before anything is written: a batch is
accepted whole or refused whole, with the offending field named.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sojourn.ground.addresses import EmailNotValidError, one_mailbox
from sojourn.ground.calls import ANONYMOUS_PREFIX, Call, anonymous_customer

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
# Every other body (operators' JSON, a subscription, a form): the cap FastAPI applies
# while it reads the body, before any credential is checked (api/main.py).
MAX_BODY_BYTES = 64 * 1024
TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_ID = 255
MAX_ANONYMOUS_ID = MAX_ID - len(ANONYMOUS_PREFIX)  # filed under "anonymous:<id>" (sojourn/ground/calls.py)


class BadRequest(Exception):
    """A 4xx with a message that names what is wrong."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# What the database and the journeys can hold, checked before anything is written.
MAX_DEPTH = 32  # nesting of objects and arrays in one body
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Text that no column and no journey should ever see: NUL (PostgreSQL refuses it in
# text and JSONB) and lone UTF-16 surrogates (not encodable as UTF-8).
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
# Profile columns and their widths (see sojourn/ground/models.py: Customer).
TRAIT_LIMITS = {"email": 320, "firstName": 255, "first_name": 255, "timezone": 64}


async def read_body(chunks: AsyncIterator[bytes], content_encoding: str | None, content_length: str | None) -> Any:
    """Read at most the batch limit off the wire, and inflate gzip at most to it: a
    300 MB body, or a small gzip bomb, is refused after reading 500 KB, never whole."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "", "gzip"):
        raise BadRequest(f"Content-Encoding {content_encoding!r} is not supported (use gzip)", 415)
    if content_length and content_length.isdigit() and int(content_length) > MAX_BATCH_BYTES:
        raise BadRequest(f"request body is {content_length} bytes; the limit is {MAX_BATCH_BYTES}", 413)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    received = 0
    body = bytearray()
    async for chunk in chunks:
        received += len(chunk)
        if received > MAX_BATCH_BYTES:
            raise BadRequest(f"request body is over the {MAX_BATCH_BYTES}-byte limit", 413)
        if inflater is None:
            body += chunk
            continue
        try:
            body += inflater.decompress(chunk, MAX_BATCH_BYTES + 1 - len(body))
        except zlib.error as exc:
            raise BadRequest(f"body is not valid gzip: {exc}") from exc
        if len(body) > MAX_BATCH_BYTES or inflater.unconsumed_tail:
            raise BadRequest(f"decompressed body is over the {MAX_BATCH_BYTES}-byte limit", 413)
    if inflater is not None and not inflater.eof:
        raise BadRequest("body is not valid gzip: the stream is truncated")
    return parse_json(bytes(body))


def _refuse_constant(name: str) -> Any:
    raise BadRequest(f"body holds {name}; numbers must be finite")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"body holds the number {text[:40]}, which is out of range; numbers must be finite")
    return value


def parse_json(raw: bytes) -> Any:
    """JSON with only what can be stored: finite numbers, no NUL, no lone surrogates,
    at most MAX_DEPTH levels of nesting."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise BadRequest(f"body is nested deeper than {MAX_DEPTH} levels") from None
    except BadRequest:
        raise
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, and ints past 4300 digits
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    _check_tree(value)
    return value


def unstorable(text: str) -> bool:
    """Holds what no column may: NUL or a lone surrogate."""
    return _FORBIDDEN.search(text) is not None


def _check_tree(root: Any) -> None:
    # Iterative: a deep body must get a 400, not a RecursionError.
    stack: list[tuple[Any, str, int]] = [(root, "body", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if _FORBIDDEN.search(value):
                raise BadRequest(f"{where} holds a NUL character or a lone surrogate")
        elif isinstance(value, dict):
            if depth >= MAX_DEPTH:
                raise BadRequest(f"{where} is nested deeper than {MAX_DEPTH} levels")
            for key, item in value.items():
                if _FORBIDDEN.search(key):
                    raise BadRequest(f"{where} has a key with a NUL character or a lone surrogate")
                stack.append((item, f"{where}.{key}" if where != "body" else key, depth + 1))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                raise BadRequest(f"{where} is nested deeper than {MAX_DEPTH} levels")
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))


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


def _instant(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{field} is not ISO-8601: {value[:64]!r}") from exc
    if not EARLIEST <= parsed < LATEST:
        raise BadRequest(f"{field} must fall between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC")
    return parsed


def _timestamp(raw: dict[str, Any], where: str, sent_at: Any = None) -> datetime:
    """When it happened. With `sentAt` (the client's clock when it sent the call, as
    every Segment SDK adds), corrected for that clock's skew as Segment does:
    received − (sentAt − timestamp). A phone set an hour wrong still gets her cart's
    reminder an hour after the cart, by the server's clock."""
    now = datetime.now(UTC)
    value = raw.get("timestamp")
    if value is None:
        return now
    happened = _instant(value, f"{where}timestamp")
    sent = raw.get("sentAt", sent_at)
    if sent is None:
        return happened
    corrected = now - (_instant(sent, f"{where}sentAt" if "sentAt" in raw else "sentAt") - happened)
    return corrected if EARLIEST <= corrected < LATEST else happened


# How far ahead of the time it was received a browser's call may say it happened,
# after the sentAt correction: a clock a little fast, not a date in 2100.
BROWSER_SKEW = timedelta(minutes=5)


def as_received(messages: list[Call], now: datetime | None = None) -> None:
    """A browser's calls (the public write key) happen no later than they were
    received, within BROWSER_SKEW: one future-dated "Product Viewed" would otherwise
    stay the product's latest for good."""
    now = now or datetime.now(UTC)
    for m in messages:
        if m.timestamp > now + BROWSER_SKEW:
            m.timestamp = now


def _traits(raw: dict[str, Any], where: str) -> dict[str, Any]:
    traits = _object(raw, "traits", where) or _object(_object(raw, "context", where), "traits", f"{where}context.")
    for name, limit in TRAIT_LIMITS.items():
        value = traits.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise BadRequest(f"{where}traits.{name} is longer than {limit} characters")
    return traits


# Segment's e-commerce spec (v2): its events' typed properties, checked so that a
# journey reading a cart never meets "quantity": "abc". Other events' properties are
# the sender's own and stay free-form.
ECOMMERCE_EVENTS = frozenset({
    "Products Searched", "Product List Viewed", "Product List Filtered", "Promotion Viewed", "Promotion Clicked",
    "Product Clicked", "Product Viewed", "Product Added", "Product Removed", "Cart Viewed", "Checkout Started",
    "Checkout Step Viewed", "Checkout Step Completed", "Payment Info Entered", "Order Updated", "Order Completed",
    "Order Refunded", "Order Cancelled", "Coupon Entered", "Coupon Applied", "Coupon Denied", "Coupon Removed",
    "Product Added to Wishlist", "Product Removed from Wishlist", "Wishlist Product Added to Cart",
    "Product Shared", "Cart Shared", "Product Reviewed",
})
INTEGERS = ("quantity", "position", "step")
NUMBERS = ("price", "revenue", "value", "total", "subtotal", "shipping", "tax", "discount")


def _check_ecommerce(properties: dict[str, Any], where: str) -> None:
    def check(props: dict[str, Any], at: str) -> None:
        for name in INTEGERS:
            value = props.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or (isinstance(value, float) and not value.is_integer())):
                raise BadRequest(f"{at}{name} must be an integer (got {json.dumps(value)[:40]})")
        if isinstance(props.get("quantity"), (int, float)) and props["quantity"] < 0:
            raise BadRequest(f"{at}quantity must not be negative")
        for name in NUMBERS:
            value = props.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise BadRequest(f"{at}{name} must be a number (got {json.dumps(value)[:40]})")

    at = f"{where}properties."
    check(properties, at)
    products = properties.get("products")
    if products is None:
        return
    if not isinstance(products, list):
        raise BadRequest(f"{at}products must be an array of products")
    for i, product in enumerate(products):
        if not isinstance(product, dict):
            raise BadRequest(f"{at}products[{i}] must be an object")
        check(product, f"{at}products[{i}].")


def _checked_email(traits: dict[str, Any], where: str) -> None:
    """An email trait is one valid address, or the identify is refused: "a@x, b@y"
    would otherwise reach two mailboxes, one of them past the suppression list."""
    value = traits.get("email")
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise BadRequest(f"{where}email must be a string")
    try:
        traits["email"] = one_mailbox(value)
    except EmailNotValidError as exc:
        raise BadRequest(f"{where}email is not one valid address: {exc}") from None


def _derived_message_id(raw: dict[str, Any]) -> str:
    # Segment's libraries always set messageId. A hand-written call without one but
    # with a timestamp gets an id derived from its content, so retrying the very same
    # call stays idempotent; without a timestamp there is nothing stable to key on.
    if raw.get("timestamp"):
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
        return f"sojourn-{digest[:32]}"
    return f"sojourn-{uuid.uuid4()}"


def parse_message(raw: Any, *, type_: str | None = None, where: str = "", defaults: dict[str, Any] | None = None) -> Call:
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
    if user_id is not None and user_id.startswith(ANONYMOUS_PREFIX):
        raise BadRequest(f"{where}userId may not begin with {ANONYMOUS_PREFIX!r}: that names an anonymous "
                         "visitor's profile")
    if anonymous_id is not None and len(anonymous_id) > MAX_ANONYMOUS_ID:
        raise BadRequest(f"{where}anonymousId is longer than {MAX_ANONYMOUS_ID} characters")
    name: str | None
    if kind == "track":
        name = _optional_str(raw, "event", where)
        if name is None:
            raise BadRequest(f"{where}event is required for a track call")
    else:
        name = _optional_str(raw, "name", where)
    context = {**(defaults or {}).get("context", {}), **_object(raw, "context", where)}
    properties = _object(raw, "properties", where)
    if kind in ("page", "screen") and name is None and isinstance(properties.get("name"), str):
        name = _optional_str(properties, "name", f"{where}properties.")
    if kind == "track" and name in ECOMMERCE_EVENTS:
        _check_ecommerce(properties, where)
    traits = _traits(raw, where)
    previous = None
    if kind == "alias":
        previous = _optional_str(raw, "previousId", where)
        if previous is None or user_id is None:
            raise BadRequest(f"{where}previousId and {where}userId are required for an alias call")
        properties = {**properties, "previousId": previous}  # kept on the stored event
    if kind == "identify":
        _checked_email(traits, f"{where}traits." if isinstance(raw.get("traits"), dict) and raw["traits"]
                       else f"{where}context.traits.")
    return Call(
        type=kind,
        message_id=_optional_str(raw, "messageId", where) or _derived_message_id(raw),
        customer_id=user_id or anonymous_customer(anonymous_id or ""),
        user_id=user_id,
        anonymous_id=anonymous_id,
        name=name,
        properties=properties,
        traits=traits,
        context=context,
        timestamp=_timestamp(raw, where, (defaults or {}).get("sentAt")),
        previous_id=previous,
    )


def parse_batch(body: Any) -> list[Call]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object with a batch array")
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise BadRequest("batch is required and must be an array")
    if not batch:
        raise BadRequest("batch is empty")
    defaults = {"context": _object(body, "context", ""), "sentAt": body.get("sentAt")}
    return [parse_message(item, where=f"batch[{i}].", defaults=defaults) for i, item in enumerate(batch)]
