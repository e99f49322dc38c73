"""Web push (RFC 8030/8291/8292) through pywebpush's async API."""

from __future__ import annotations

import dataclasses
import json

import aiohttp
from pywebpush import WebPushException, webpush_async
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.contracts import SEND_PUSH, Send, SendResult
from activities.channel import Channel
from activities.rendering import Templates
from sojourn.allowlist import refuse_reason
from sojourn.models import PushSubscription
from sojourn.settings import Settings
from sojourn.vapid import VapidKeys, load_vapid_keys


class PushActivities(Channel):
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], templates: Templates) -> None:
        super().__init__(settings, sessions, templates)
        self._keys: VapidKeys | None = None

    async def keys(self) -> VapidKeys:
        if self._keys is None:
            self._keys = await load_vapid_keys(self.sessions, self.settings)
        return self._keys

    @activity.defn(name=SEND_PUSH)
    async def send_push(self, send: Send) -> SendResult:
        async with self.sessions() as session:
            subs = list(
                await session.scalars(
                    select(PushSubscription)
                    .where(PushSubscription.customer_id == send.customer_id)
                    .order_by(PushSubscription.id)
                )
            )
        if not subs:
            return await self.ledger.outcome(send, "push", "skipped", "no push subscriptions")

        _, context = await self.customer_and_context(send, "push")
        notification = await self.render(send, "push", lambda: self.templates.push(send.template, context))
        if isinstance(notification.get("url"), str):
            notification["url"] = (await self.tracker(context)).wrap(
                dataclasses.replace(self.click(send, "push"), url=notification["url"]))
        payload = json.dumps(notification)
        keys = await self.keys()
        outcomes: list[str] = []
        async with aiohttp.ClientSession() as http:
            for sub in subs:
                # One ledger row per subscription: a retry after a partial fan-out only
                # sends to the browsers that did not get it yet.
                outcomes.append(await self._send_one(send, sub, payload, keys, http))
        status = "sent" if "sent" in outcomes else ("failed" if "failed" in outcomes else "skipped")
        return SendResult(status=status, detail=f"{outcomes.count('sent')}/{len(subs)} subscriptions")

    async def _send_one(
        self, send: Send, sub: PushSubscription, payload: str, keys: VapidKeys, http: aiohttp.ClientSession
    ) -> str:
        key = f"{send.key}#push{sub.id}"
        done = await self.ledger.claim(send, "push", key=key)
        if done is not None:
            return done.status
        reason = refuse_reason(sub.endpoint, self.settings.push_allowed_hosts)
        if reason:
            await self.ledger.record(key, "skipped", f"endpoint {reason}", recipient=sub.endpoint)
            return "skipped"
        try:
            response = await webpush_async(
                subscription_info={"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                data=payload,
                vapid_private_key=keys.signer(),
                vapid_claims={"sub": self.settings.vapid_subject},
                ttl=self.settings.push_ttl_seconds,
                timeout=30,
                aiohttp_session=http,
            )
        except WebPushException as exc:
            status_code = exc.response.status if exc.response is not None else None
            if status_code in (404, 410):
                # The browser unsubscribed or the subscription expired: forget it.
                async with self.sessions() as session:
                    await session.execute(delete(PushSubscription).where(PushSubscription.id == sub.id))
                    await session.commit()
                await self.ledger.record(key, "skipped", f"subscription gone ({status_code})", recipient=sub.endpoint)
                return "skipped"
            # Anything else (429, 5xx, network) is retried by the activity's retry policy.
            await self.ledger.record(key, "failed", str(exc), recipient=sub.endpoint)
            raise
        await self.ledger.record(key, "sent", f"{response.status}", recipient=sub.endpoint)
        return "sent"
