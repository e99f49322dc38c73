"""Tracked links: the links a brand wrote in its templates become signed redirects
through `/v1/c/<token>`. The token carries the destination and the message it came
from, so only URLs the message contained can be reached, and a tampered token is
refused.

Only the brand's links. A URL that comes from customer or event data (a trait, a
product name: "see https://evil.example/phish") is never made into a redirect. Every
`{{ expression }}` a template prints is marked as data while it renders (see
`mark_data`), except the URLs Sojourn builds itself (`TrustedUrl`: the store's URL,
referral and unsubscribe links); a URL whose start lies in data is left as it is. So
`{{ store_url }}/p/{{ product.slug }}` is tracked and `{{ product.url }}` is not. And
only destinations on the allowed hosts (the store's and this API's, by default;
SOJOURN_TRACKED_LINK_HOSTS) are tracked.
"""

from __future__ import annotations

import fnmatch
import html
import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.ground.models import ExperimentAssignment
from sojourn.ground.signing import Signer

HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)
BARE_URL = re.compile(r"https?://[^\s<>()\"']+")
# Private-use characters around what a template printed from data, removed before sending.
DATA_START, DATA_END = "\ue000", "\ue001"
_MARKERS = re.compile(f"[{DATA_START}{DATA_END}]")


class TrustedUrl(str):
    """A URL Sojourn built itself: printed as the brand's, not as data."""


def mark_data(value: Any) -> Any:
    """Jinja's `finalize`: wraps what each expression prints in markers."""
    if isinstance(value, TrustedUrl):
        return value
    if isinstance(value, Markup):  # already safe HTML (tojson, |safe): keep it so
        return Markup(DATA_START + _MARKERS.sub("", value) + DATA_END)  # one Markup, not three added
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return DATA_START + _MARKERS.sub("", text) + DATA_END


def unmark(text: str) -> str:
    return _MARKERS.sub("", text)


def _in_data(text: str, index: int) -> bool:
    return text.rfind(DATA_START, 0, index + 1) > text.rfind(DATA_END, 0, index + 1)


@dataclass(frozen=True)
class Click:
    customer_id: str
    journey: str
    step: str
    message_key: str
    channel: str
    url: str


class LinkTracker:
    def __init__(self, signer: Signer, public_url: str, keep: set[str], hosts: list[str]) -> None:
        self.signer = signer
        self.base = public_url.rstrip("/") + "/v1/c/"
        self.keep = keep  # links left alone, e.g. the unsubscribe link
        self.hosts = [h.lower() for h in hosts]

    def trackable(self, url: str) -> bool:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return False
        return bool(host) and any(fnmatch.fnmatchcase(host, pattern) for pattern in self.hosts)

    def wrap(self, click: Click) -> str:
        if click.url in self.keep or click.url.startswith(self.base) or not self.trackable(click.url):
            return click.url
        payload = json.dumps([click.customer_id, click.journey, click.step, click.message_key, click.channel,
                              click.url], separators=(",", ":"))
        return self.base + self.signer.sign(payload)

    def html(self, body: str, template: Click) -> str:
        """Rewrites the brand's links in a rendered (marked) HTML body; returns it unmarked."""
        def rewrite(match: re.Match[str]) -> str:
            if _in_data(body, match.start(1)):
                return match.group(0)
            url = html.unescape(unmark(match.group(1)))
            return f'href="{html.escape(self.wrap(replace(template, url=url)))}"'

        return unmark(HREF.sub(rewrite, body))

    def text(self, body: str, template: Click) -> str:
        """The same for a plain-text body."""
        def rewrite(match: re.Match[str]) -> str:
            if _in_data(body, match.start()):
                return match.group(0)
            return self.wrap(replace(template, url=unmark(match.group(0))))

        return unmark(BARE_URL.sub(rewrite, body))


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


@dataclass(frozen=True)
class Open:
    """An email open pixel's token: whose mail, which step, and when it was sent."""

    customer_id: str
    journey: str
    step: str
    message_key: str
    sent_at: float  # epoch seconds, when it was rendered for sending


def open_pixel(signer: Signer, public_url: str, opened: Open) -> str:
    """The 1x1 image's URL for this mail (SOJOURN_EMAIL_OPEN_PIXEL); signed like a link."""
    payload = json.dumps(["open", opened.customer_id, opened.journey, opened.step, opened.message_key,
                          round(opened.sent_at, 3)], separators=(",", ":"))
    return public_url.rstrip("/") + "/v1/o/" + signer.sign(payload)


def read_open(signer: Signer, token: str) -> Open | None:
    value = signer.verify(token)
    if value is None:
        return None
    try:
        kind, customer_id, journey, step, key, sent_at = json.loads(value)
    except (ValueError, TypeError):
        return None
    if kind != "open" or not isinstance(sent_at, (int, float)) or not all(
            isinstance(v, str) for v in (customer_id, journey, step, key)):
        return None
    return Open(customer_id, journey, step, key, float(sent_at))


# A send's key is "<workflow id>/<first run id>/<step>" (workflows/kit/sends.py); the
# run id is a UUID, so the workflow id is what comes before it, whatever "/" the step holds.
_SEND_KEY = re.compile(r"^(?P<workflow>.+?)/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/")


async def run_of(session: AsyncSession, send_key: str) -> dict[str, Any]:
    """The run a click or an impression came from, for its event: the workflow id and
    the variants that run was assigned (`{"registration_page": "b"}`), if any."""
    found = _SEND_KEY.match(send_key or "")
    if found is None:
        return {}
    workflow_id = found.group("workflow")
    variants = dict((await session.execute(select(ExperimentAssignment.experiment, ExperimentAssignment.variant)
                                            .where(ExperimentAssignment.workflow_id == workflow_id))).all())
    return {"workflow_id": workflow_id, **({"variants": variants} if variants else {})}
