"""Webhook channel: POST JSON to a configured destination (ad audiences, an SMS
provider), signed with HMAC-SHA256 and carrying an idempotency key that stays the
same across retries, so the receiver can drop a duplicate delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import aiohttp
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channel import Channel
from activities.heartbeat import keep_alive
from sojourn.ground.allowlist import checked_session, refuse_reason, refused
from sojourn.ground.contracts import SEND_WEBHOOK, Send, SendResult

SIGNATURE_HEADER = "X-Sojourn-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the timestamp is signed too,
    so a receiver can refuse replays of old deliveries."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class WebhookActivities(Channel):
    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(self, send: Send) -> SendResult:
        async with keep_alive():
            return await self.measured("webhook", self._send_webhook(send))

    async def _send_webhook(self, send: Send) -> SendResult:
        who, done = await self.prepare(send, "webhook", cap=self.cap("webhook"), guarantee=self.guarantee(send))
        send = who.send
        if done is not None:
            return done
        url = self.settings.webhooks.get(send.template)
        if url is None:
            return await self.finish(send, "skipped", f"no webhook named {send.template!r} (SOJOURN_WEBHOOKS)")
        refusal = refuse_reason(url, self.settings.webhook_allowed_hosts, "webhook host",
                                allow_loopback=self.settings.outbound_allow_loopback)
        if refusal:
            return await self.finish(send, "skipped", f"webhook {refusal}")
        if not self.settings.webhook_secret:
            return await self.finish(send, "skipped", "SOJOURN_WEBHOOK_SECRET is not set; webhooks are never sent unsigned")
        reason = who.blocked
        if reason:
            return await self.finish(send, "skipped", reason)

        idempotency_key = hashlib.sha256(send.key.encode()).hexdigest()
        body = json.dumps({
            "id": idempotency_key, "journey": send.journey, "step": send.step, "customer_id": send.customer_id,
            "topic": send.topic, "data": send.data,
        }, separators=(",", ":"), sort_keys=True, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: idempotency_key,
            SIGNATURE_HEADER: signature(self.settings.webhook_secret, int(time.time()), body),
            "User-Agent": "Sojourn-Webhook/1",
        }
        await self.ledger.sending(send.key, recipient=url)
        try:
            async with checked_session(self.settings.outbound_allow_loopback,
                                       timeout=aiohttp.ClientTimeout(total=30)) as http:
                # No redirects: a 30x must not take the worker to an address off the list.
                async with http.post(url, data=body, headers=headers, allow_redirects=False) as response:
                    answer = f"{response.status} {(await response.text())[:200]}".strip()
        except aiohttp.ClientConnectorError as exc:
            if (resolved := refused(exc)) is not None:
                return await self.finish(send, "skipped", f"webhook refused: {resolved}", recipient=url)
            await self.ledger.record(send.key, "queued", f"deferred: {exc!r}", recipient=url)
            raise
        # Other errors (the connection lost mid-request, a timeout) leave the row
        # `sending`: the receiver may have it. The retry applies the guarantee, and the
        # Idempotency-Key lets the receiver drop a resent duplicate.
        if 200 <= response.status < 300:
            return await self.finish(send, "sent", answer, recipient=url)
        if response.status in (408, 429) or response.status >= 500:
            await self.ledger.record(send.key, "queued", f"deferred: {answer}", recipient=url)
            raise ApplicationError(f"webhook answered {answer}", type="WebhookDeferred")
        return await self.finish(send, "failed", f"webhook refused: {answer}", recipient=url)
