"""The kit's sends: one activity per channel, keyed by a stable step id so that a
retry, a restarted worker or continue-as-new never sends twice (activities/ledger.py
says what happens in the ambiguous window)."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.kit.base import Kit
from workflows.kit.coupons import Coupon
from workflows.kit.options import ACTIVITY_TIMEOUT, RECORD_TIMEOUT, SEND_HEARTBEAT, SEND_RETRY, on_demo_clock

with workflow.unsafe.imports_passed_through():
    from sojourn.ground import calendar
    from sojourn.ground.contracts import (
        GIVE_UP_SEND,
        SEND_EMAIL,
        SEND_ONSITE,
        SEND_PUSH,
        SEND_WEBHOOK,
        Send,
        SendGiveUp,
        SendResult,
    )

CHANNELS = {"email": SEND_EMAIL, "push": SEND_PUSH, "webhook": SEND_WEBHOOK, "onsite": SEND_ONSITE}


class Sends(Kit):
    """Mixed into Journey: uses its input (`self.start`), state, `timezone()` and `changed()`."""

    async def send_email(
        self, step: str, *, template: str, data: dict[str, Any] | None = None, topic: str = "marketing",
        coupon: Coupon | None = None,
    ) -> SendResult:
        """`coupon` (from issue_coupon) is `coupon.code` and `coupon.expires_at` in the
        template; a coupon with no code (an empty pool) skips the send, with the reason."""
        return await self._send("email", step, template, data or {}, topic, coupon)

    async def send_push(
        self, step: str, *, template: str, data: dict[str, Any] | None = None, topic: str = "marketing",
        coupon: Coupon | None = None,
    ) -> SendResult:
        return await self._send("push", step, template, data or {}, topic, coupon)

    async def send_webhook(
        self, step: str, *, hook: str, data: dict[str, Any] | None = None, topic: str = "marketing"
    ) -> SendResult:
        """POST to a configured webhook (SOJOURN_WEBHOOKS), e.g. an ad audience or SMS."""
        return await self._send("webhook", step, hook, data or {}, topic)

    async def send_onsite(
        self, step: str, *, template: str, data: dict[str, Any] | None = None, topic: str = "marketing",
        coupon: Coupon | None = None,
    ) -> SendResult:
        """Leave a message for the storefront (greeting bar, banner, prompt). It is
        withdrawn when the run exits or ends, if its TTL has not run out before."""
        return await self._send("onsite", step, template, data or {}, topic, coupon)

    async def send_on(
        self, channel: str, step: str, *, template: str, data: dict[str, Any] | None = None,
        topic: str = "marketing", coupon: Coupon | None = None, fallback: str | None = None,
    ) -> SendResult:
        """A send on a channel chosen at run time (e.g. by best_channel): "email",
        "push", "onsite" or "webhook" (then `template` names the hook). With
        `fallback="email"`, a send that did not go out on `channel` (no subscription
        left, opted out of it, failed) goes on the fallback instead, as step
        `<step>.<fallback>`; a send of unknown fate is never sent again elsewhere."""
        if channel not in CHANNELS:
            result = self._sent(step, SendResult(status="skipped", detail=f"no channel {channel!r}", channel=channel))
        else:
            result = await self._send(channel, step, template, data or {}, topic, coupon)
        if fallback and fallback != channel and fallback in CHANNELS and result.status in ("skipped", "failed"):
            if coupon is not None and not coupon:
                return result  # nothing to offer anywhere
            return await self._send(fallback, f"{step}.{fallback}", template, data or {}, topic, coupon)
        return result

    async def send_preferred(
        self,
        step: str,
        *,
        channels: tuple[str, ...] = ("push", "email"),
        template: str,
        data: dict[str, Any] | None = None,
        topic: str = "marketing",
    ) -> SendResult:
        """Try channels in order of preference; the first one that sends wins."""
        result = SendResult(status="skipped", detail="no channel")
        for channel in channels:
            result = await self._send(channel, f"{step}.{channel}", template, data or {}, topic)
            if result.status == "sent":
                break
        self.s.sends[step] = result.status
        return result

    async def _send(self, channel: str, step: str, template: str, data: dict[str, Any], topic: str,
                    coupon: Coupon | None = None) -> SendResult:
        journaled = self.s.journal.get(f"send:{step}")
        if journaled is not None:
            return journaled if isinstance(journaled, SendResult) else SendResult(**journaled)
        if coupon is not None:
            if not coupon:  # nothing to offer: no send, and the reason in the timeline
                return self._sent(step, SendResult(status="skipped", detail=coupon.reason, channel=channel))
            data = {**data, "coupon": coupon.for_template()}
        if topic != "transactional" and self.start.quiet_hours:
            opens = calendar.quiet_hours_end(workflow.now(), await self.timezone(), self.start.quiet_hours)
            if opens is not None:
                await self._wait(lambda: False, until=self._toward(opens), step=f"{step}: quiet hours",
                                 key=f"quiet:{step}")
        info = workflow.info()
        self.step = f"{step}: sending"
        self._show()
        send = Send(
            # Stable across retries, worker restarts and continue-as-new; distinct per
            # journey run.
            key=f"{info.workflow_id}/{info.first_execution_run_id}/{step}",
            customer_id=self.start.customer_id,
            journey=self.spec.name,
            workflow_id=info.workflow_id,
            step=step,
            template=template,
            data=data,
            topic=topic,
        )
        try:
            result = await workflow.execute_activity(
                CHANNELS[channel],
                send,
                result_type=SendResult,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                heartbeat_timeout=SEND_HEARTBEAT,
                retry_policy=on_demo_clock(SEND_RETRY, self.start.time_scale),
                summary=f"{step}: {channel} ({template})",
            )
        except ActivityError as err:
            # Out of retries: the story goes on and decides what a failed send means.
            cause = err.cause.message if err.cause is not None and hasattr(err.cause, "message") else str(err)
            result = SendResult(status="failed", detail=cause)
            # Its ledger rows must not stay open (counted toward the cap, shown as
            # queued forever): failed, or unknown if the last attempt died sending.
            # A change: runs recorded before it made no such call.
            if self.changed("ledger-gives-up"):
                ended = await workflow.execute_activity(
                    GIVE_UP_SEND, SendGiveUp(send.key, cause), result_type=str,
                    start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY, summary=f"{step}: give up",
                )
                if ended == "unknown":
                    result.status = "unknown"
        result.channel = channel
        if channel == "onsite" and result.status == "sent":
            self.s.onsite = True  # withdrawn when the run exits or ends
        return self._sent(step, result)

    def _sent(self, step: str, result: SendResult) -> SendResult:
        self.s.journal[f"send:{step}"] = result
        self.s.sends[step] = result.status
        self._note(f"{step}: {result.channel} {result.status}" + (f" ({result.detail})" if result.detail else ""))
        return result
