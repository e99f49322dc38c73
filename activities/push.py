"""Web push (RFC 8030/8291/8292) through pywebpush's async API.

One ledger row for the step (what the frequency cap counts and the journey sees) and
one per browser delivery, so a retry after a partial fan-out only reaches the browsers
that did not get it yet. Delivery hygiene: TTL, Urgency and Topic per message; the
VAPID token reused for its lifetime per push service; 404/410 forget the subscription;
429 is retried no sooner than its Retry-After; only allow-listed push services are
ever called.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pywebpush import WebPushException, webpush_async
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channel import Channel, Recipient, delivery_key
from activities.heartbeat import keep_alive
from activities.rendering import ContentTemplates, Templates
from sojourn.ground.allowlist import checked_session, no_redirects, refuse_reason, refused
from sojourn.ground.contracts import SEND_PUSH, Send, SendResult
from sojourn.ground.models import PushSubscription
from sojourn.ground.settings import Settings
from sojourn.ground.vapid import VapidKeys, load_vapid_keys

URGENCIES = ("very-low", "low", "normal", "high")
VAPID_LIFETIME = 12 * 3600  # seconds; the spec allows at most 24 h
VAPID_RENEW_BEFORE = 600
HTTP_LINGER_SECONDS = 5.0  # an idle session is closed this long after its last push


@dataclasses.dataclass
class Delivery:
    payload: str
    ttl: int
    headers: dict[str, str]


class PushActivities(Channel):
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], templates: Templates | ContentTemplates) -> None:
        super().__init__(settings, sessions, templates)
        self._keys: VapidKeys | None = None
        self._tokens: dict[str, tuple[float, dict[str, str]]] = {}  # push-service origin -> (exp, headers)
        self._http: aiohttp.ClientSession | None = None
        self._http_users = 0
        self._http_idle: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def http(self) -> AsyncIterator[aiohttp.ClientSession]:
        """One HTTP session shared by the pushes in flight, so connections to a push
        service are kept open and reused while sends keep coming (its resolver checks
        each new connection's address); closed once no push has used it for
        HTTP_LINGER_SECONDS, or when the event loop shuts down. (Closed as soon as the
        last push was done, it lived for one push at a time under steady load: a new
        connection each.)"""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.closed or self._http._loop is not loop:  # a test's new event loop
            self._http, self._http_users = checked_session(self.settings.outbound_allow_loopback), 0
        http = self._http
        self._http_users += 1
        if self._http_idle is not None:
            self._http_idle.cancel()  # in use again (it sees the user, and keeps the session)
            self._http_idle = None
        try:
            yield http
        finally:
            self._http_users -= 1
            if self._http_users == 0 and self._http is http:
                self._http_idle = loop.create_task(self._close_when_idle(http))

    async def _close_when_idle(self, http: aiohttp.ClientSession) -> None:
        try:
            await asyncio.sleep(HTTP_LINGER_SECONDS)
        except asyncio.CancelledError:
            if self._http_users > 0:
                return  # a push took it up again
            # Otherwise the loop is shutting down: close it on the way out.
        if self._http is http and self._http_users == 0:
            self._http, self._http_idle = None, None
            await http.close()

    async def keys(self) -> VapidKeys:
        if self._keys is None:
            self._keys = await load_vapid_keys(self.sessions, self.settings)
        return self._keys

    async def vapid_headers(self, endpoint: str) -> dict[str, str]:
        """Signing an ES256 JWT per message is wasted work: reuse one per push-service
        origin until shortly before it expires."""
        parts = urlsplit(endpoint)
        aud = f"{parts.scheme}://{parts.netloc}"
        cached = self._tokens.get(aud)
        if cached is None or cached[0] - time.time() < VAPID_RENEW_BEFORE:
            exp = int(time.time()) + VAPID_LIFETIME
            signed = (await self.keys()).signer().sign({"aud": aud, "exp": exp, "sub": self.settings.vapid_subject})
            cached = self._tokens[aud] = (exp, {k: v for k, v in signed.items()})
        return dict(cached[1])

    @activity.defn(name=SEND_PUSH)
    async def send_push(self, send: Send) -> SendResult:
        async with keep_alive():
            return await self.measured("push", self._send_push(send))

    async def _send_push(self, send: Send) -> SendResult:
        who, done = await self.prepare(send, "push", cap=self.cap("push"))
        send, subs = who.send, who.subscriptions
        if done is not None:
            return done
        if not subs:
            return await self.finish(send, "skipped", "no push subscriptions")
        reason = who.blocked
        if reason:
            return await self.finish(send, "skipped", reason)

        delivery = await self._delivery(who)
        outcomes: list[str] = []
        # The last browser's outcome is recorded with the step's, in one transaction;
        # each one before it as soon as its push service answers.
        last: list[tuple[str, str, str, str | None]] = []
        async with self.http() as http:
            for i, sub in enumerate(subs):
                # Claimed with the step, or the send fails here: never a delivery unclaimed.
                outcomes.append(await self._send_one(send, sub, who.deliveries[sub.id], delivery, http,
                                                     defer=last if i == len(subs) - 1 else None))
        status = next((s for s in ("sent", "unknown", "failed") if s in outcomes), "skipped")
        return await self.finish(send, status, f"{outcomes.count('sent')}/{len(subs)} subscriptions", also=last)

    async def _delivery(self, who: Recipient) -> Delivery:
        send, context = who.send, await self.context(who)
        notification: dict[str, Any] = await self.render(
            send, "push", lambda: who.content.push(send.template, context)
        )
        # Delivery options live in the template beside the content; the browser gets
        # only the content.
        ttl = int(notification.pop("ttl", self.settings.push_ttl_seconds))
        urgency = str(notification.pop("urgency", "normal"))
        if urgency not in URGENCIES:
            urgency = "normal"
        # RFC 8030 topic: at most 32 URL-safe base64 characters; a newer message with
        # the same topic replaces an undelivered older one.
        topic = re.sub(r"[^A-Za-z0-9_-]", "-", str(notification.pop("topic", notification.get("tag", ""))))[:32]
        if isinstance(notification.get("url"), str):
            notification["url"] = (await self.tracker(context)).wrap(
                dataclasses.replace(self.click(send, "push"), url=notification["url"]))
        headers = {"Urgency": urgency, **({"Topic": topic} if topic else {})}
        return Delivery(json.dumps(notification), ttl, headers)

    async def _send_one(self, send: Send, sub: PushSubscription, done: SendResult | None, delivery: Delivery,
                        http: aiohttp.ClientSession, defer: list[tuple[str, str, str, str | None]] | None) -> str:
        """One browser's delivery, claimed with the step (`Channel.prepare`: `done` is
        its claim's answer). A success is left in `defer`, when given, to be recorded
        with the step."""
        key = delivery_key(send, sub)
        if done is not None:
            return done.status
        reason = refuse_reason(sub.endpoint, self.settings.push_allowed_hosts,
                               allow_loopback=self.settings.outbound_allow_loopback)
        if reason:
            await self.ledger.record(key, "skipped", f"endpoint {reason}", recipient=sub.endpoint)
            return "skipped"
        await self.ledger.sending(key, recipient=sub.endpoint)
        try:
            response = await webpush_async(
                subscription_info={"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                data=delivery.payload,
                headers={**delivery.headers, **await self.vapid_headers(sub.endpoint)},
                ttl=delivery.ttl,
                timeout=30,
                aiohttp_session=no_redirects(http),
            )
        except WebPushException as exc:
            response = exc.response
            status_code = response.status if response is not None else None
            if status_code is not None and 300 <= status_code < 400:
                await self.ledger.record(key, "failed", f"redirected ({status_code}); redirects are not followed",
                                         recipient=sub.endpoint)
                return "failed"
            if status_code in (404, 410):
                # The browser unsubscribed or the subscription expired: forget it.
                async with self.sessions() as session:
                    await session.execute(delete(PushSubscription).where(PushSubscription.id == sub.id))
                    await session.commit()
                await self.ledger.record(key, "skipped", f"subscription gone ({status_code})", recipient=sub.endpoint)
                return "skipped"
            await self.ledger.record(key, "queued", f"deferred: {status_code}", recipient=sub.endpoint)
            if status_code == 429:
                retry_after = _retry_after(response.headers.get("Retry-After") if response is not None else None)
                raise ApplicationError(
                    f"push service rate limit (429); retry after {retry_after}s",
                    type="PushRateLimited",
                    next_retry_delay=timedelta(seconds=retry_after),
                ) from exc
            raise  # 5xx: the activity's retry policy tries again
        except aiohttp.ClientConnectorError as exc:
            # No connection: nothing was sent.
            if (refusal := refused(exc)) is not None:
                await self.ledger.record(key, "skipped", f"endpoint refused: {refusal}", recipient=sub.endpoint)
                return "skipped"
            await self.ledger.record(key, "queued", f"deferred: {exc!r}"[:300], recipient=sub.endpoint)
            raise
        # Any other error (the connection lost mid-request, a timeout) leaves the row
        # `sending`: the push service may have it. The retry applies the guarantee.
        if defer is not None:
            defer.append((key, "sent", f"{response.status}", sub.endpoint))
        else:
            await self.ledger.record(key, "sent", f"{response.status}", recipient=sub.endpoint)
        return "sent"


def _retry_after(value: str | None) -> int:
    try:
        return max(1, min(int(value or 60), 3600))
    except ValueError:
        return 60
