"""How the kit calls activities: timeouts and retries shared by every journey."""

from __future__ import annotations

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
