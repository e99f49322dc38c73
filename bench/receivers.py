"""The receiving side of bench/sending.py, in a process of its own so its CPU is not
the sender's: an SMTP server (aiosmtpd) and a Web Push service (the push inbox, which
checks every push's VAPID JWT and decrypts its aes128gcm payload).

It prints one JSON line: the ports and `--browsers` subscriptions. On SIGINT it prints
another: how many messages each recipient prefix got, and when (time.time()) each
`lat-` recipient's mail arrived.

    python -m bench.receivers --browsers 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import Counter

from aiosmtpd.smtp import SMTP, Envelope, Session

from sojourn.devtools.pushinbox import PushReceiver


class Sink:
    """Accepts every message and keeps only counts (and the latency recipients' times)."""

    def __init__(self) -> None:
        self.by_prefix: Counter[str] = Counter()
        self.arrivals: dict[str, float] = {}

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        now = time.time()
        for rcpt in envelope.rcpt_tos:
            self.by_prefix["email:" + rcpt.split("-")[0]] += 1
            if rcpt.startswith("lat-"):
                self.arrivals.setdefault(rcpt.split("@")[0], now)
        return "250 2.0.0 OK"


class CountingPushReceiver(PushReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def _receive(self, request):  # type: ignore[no-untyped-def]
        response = await super()._receive(request)
        if response.status == 201:
            self.count += 1
            self.deliveries.clear()  # counted; a bench sends too many to keep
        return response


async def main(browsers: int) -> None:
    loop = asyncio.get_running_loop()
    sink = Sink()
    smtp = await loop.create_server(lambda: SMTP(sink, hostname="bench-sink"), "127.0.0.1", 0)
    push = CountingPushReceiver()
    await push.start()
    subscriptions = [push.browser(f"b{i}").subscription(push.base_url) for i in range(browsers)]
    print(json.dumps({"smtp_port": smtp.sockets[0].getsockname()[1], "push_url": push.base_url,
                      "subscriptions": subscriptions}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    smtp.close()
    await push.stop()
    print(json.dumps({"email": dict(sink.by_prefix), "pushes": push.count, "rejections": push.rejections[:5],
                      "arrivals": sink.arrivals}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--browsers", type=int, default=0)
    asyncio.run(main(parser.parse_args().browsers))
