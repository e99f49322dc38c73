"""Tracked links: every http(s) link in a message becomes a signed redirect through
`/v1/c/<token>`. The token carries the destination and the message it came from, so
only URLs the message contained can be reached (never an open redirect), and a
tampered token is refused."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, replace

from sojourn.signing import Signer

HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)
BARE_URL = re.compile(r"https?://[^\s<>()\"']+")


@dataclass(frozen=True)
class Click:
    customer_id: str
    journey: str
    step: str
    message_key: str
    channel: str
    url: str


class LinkTracker:
    def __init__(self, signer: Signer, public_url: str, keep: set[str]) -> None:
        self.signer = signer
        self.base = public_url.rstrip("/") + "/v1/c/"
        self.keep = keep  # links left alone, e.g. the unsubscribe link

    def wrap(self, click: Click) -> str:
        if click.url in self.keep or click.url.startswith(self.base):
            return click.url
        payload = json.dumps([click.customer_id, click.journey, click.step, click.message_key, click.channel,
                              click.url], separators=(",", ":"))
        return self.base + self.signer.sign(payload)

    def html(self, body: str, template: Click) -> str:
        def rewrite(match: re.Match[str]) -> str:
            url = html.unescape(match.group(1))
            return f'href="{html.escape(self.wrap(replace(template, url=url)))}"'

        return HREF.sub(rewrite, body)

    def text(self, body: str, template: Click) -> str:
        return BARE_URL.sub(lambda m: self.wrap(replace(template, url=m.group(0))), body)


def read_click(signer: Signer, token: str) -> Click | None:
    value = signer.verify(token)
    if value is None:
        return None
    try:
        customer_id, journey, step, key, channel, url = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    return Click(customer_id, journey, step, key, channel, url)
