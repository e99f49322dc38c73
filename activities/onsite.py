"""On-site channel: messages stored for the storefront to fetch by placement
(greeting bar, smart banner, referral prompt) and to acknowledge."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import update
from temporalio import activity

from activities.channel import Channel
from activities.heartbeat import keep_alive
from sojourn.ground.contracts import SEND_ONSITE, WITHDRAW_ONSITE, OnsiteWithdrawal, Send, SendResult
from sojourn.ground.db import rowcount, upsert, write_lock
from sojourn.ground.models import OnsiteMessage, utcnow


class OnsiteActivities(Channel):
    @activity.defn(name=WITHDRAW_ONSITE)
    async def withdraw_onsite(self, request: OnsiteWithdrawal) -> int:
        """Take down what a run left on the site: its run exited or ended."""
        async with write_lock(self.sessions), self.sessions() as session:
            result = await session.execute(
                update(OnsiteMessage).where(OnsiteMessage.idempotency_key.startswith(request.run_key, autoescape=True),
                                            OnsiteMessage.withdrawn_at.is_(None))
                .values(withdrawn_at=utcnow()))
            await session.commit()
        return rowcount(result)

    @activity.defn(name=SEND_ONSITE)
    async def send_onsite(self, send: Send) -> SendResult:
        async with keep_alive():
            return await self.measured("onsite", self._send_onsite(send))

    async def _send_onsite(self, send: Send) -> SendResult:
        who, done = await self.prepare(send, "onsite", cap=self.cap("onsite"))
        send = who.send
        if done is not None:
            return done
        reason = who.blocked
        if reason:
            return await self.finish(send, "skipped", reason)
        context = await self.context(who)
        content = await self.render(send, "onsite", lambda: who.content.onsite(send.template, context))
        placement = str(content.pop("placement"))
        ttl_hours = float(content.pop("ttl_hours", 24 * 7))
        if isinstance(content.get("url"), str):
            click = dataclasses.replace(self.click(send, "onsite"), url=content["url"])
            content["url"] = (await self.tracker(context)).wrap(click)
        async with self.sessions() as session:
            await session.execute(
                upsert(session, OnsiteMessage).values(
                    idempotency_key=send.key, customer_id=send.customer_id, placement=placement,
                    journey=send.journey, step=send.step, content=content, created_at=utcnow(),
                    expires_at=utcnow() + timedelta(hours=ttl_hours),
                ).on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            await session.commit()
        return await self.finish(send, "sent", f"on-site: {placement}", recipient=placement)
