"""How the kit calls activities: timeouts and retries shared by every journey."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio.common import RetryPolicy

SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5), maximum_attempts=8
)
ACTIVITY_TIMEOUT = timedelta(minutes=2)  # a send: SMTP and push services can be slow
# Bookkeeping (entries, conversions, assignments, the profile, giving up a send) is one
# database round trip. A short timeout: a worker that dies mid-call delays the journey
# by this much before another worker retries it, not by two minutes.
RECORD_TIMEOUT = timedelta(seconds=20)
# Send activities heartbeat every 2 s: a worker that dies mid-send is noticed in 10 s.
SEND_HEARTBEAT = timedelta(seconds=10)


def on_demo_clock(policy: RetryPolicy, time_scale: float) -> RetryPolicy:
    """A retry policy whose waits run on the demo clock (SOJOURN_TIME_SCALE), like the
    journey's own delays: at 3600x a day's retries take under a minute. At 1x, as is."""
    if time_scale == 1:
        return policy
    # Floors: however fast the demo clock, a retry must not hammer a dependency that
    # is briefly busy (a locked SQLite file, a restarting SMTP server).
    return dataclasses.replace(
        policy,
        initial_interval=max(policy.initial_interval / time_scale, timedelta(milliseconds=200)),
        maximum_interval=max((policy.maximum_interval or policy.initial_interval * 100) / time_scale,
                             timedelta(seconds=2)),
    )
