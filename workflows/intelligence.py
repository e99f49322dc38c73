"""The kit's intelligence: her best channel (and, as it grows, her best time and
what to recommend), decided by activities on her history and journaled, so a replay
or the run after continue-as-new takes the same decision."""

from __future__ import annotations

from temporalio import workflow

from workflows.options import RECORD_TIMEOUT, SEND_RETRY

with workflow.unsafe.imports_passed_through():
    from activities.contracts import CHOOSE_CHANNEL, ChannelChoice, ChannelRequest


class Intelligence:
    """Mixed into Journey: uses its input, journal keys and timeline."""

    async def best_channel(self, channels: tuple[str, ...] = ("push", "email", "onsite")) -> str:
        """The channel she engages with most, among `channels` she can be reached on:
        clicks ÷ deliveries over six months, smoothed; with too little history (fewer
        than 3 messages across 2 channels), the first of `channels` she can be reached
        on; ties to the one she engaged with last. The choice and why go in the timeline."""
        key = self._key("best_channel")
        journaled = self.s.journal.get(key)
        if journaled is None:
            choice = await workflow.execute_activity(
                CHOOSE_CHANNEL, ChannelRequest(customer_id=self.start.customer_id, channels=list(channels)),
                result_type=ChannelChoice, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SEND_RETRY,
                summary="best channel",
            )
            journaled = self.s.journal[key] = {"channel": choice.channel, "reason": choice.reason}
            self._note(f"best channel: {choice.channel} ({choice.reason})")
        return str(journaled["channel"])
