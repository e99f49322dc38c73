"""Content before it is published: previews, test sends and the checks a publish must
pass (api/routes/content.py). Everything renders exactly as a send would
(activities/rendering.py: the sandbox, the same includes), at the live content with
the candidate in its place.

The checks, each reported with the part, the line and the reason:
- the template parses, and renders in the sandbox against the sample customer and a
  sample of every kind of data journeys pass (cart items, a coupon, recommendations,
  both variants of an experiment); an error or a sandbox refusal fails it;
- push and on-site content renders a JSON object, with a title (push) or a placement
  (on-site); a wheel is JSON with weighted slices (sojourn/coupons/wheels.py);
- marketing email keeps its unsubscribe link: an email whose first version (the shop's
  file) shows `unsubscribe_url` must show it, rendered, in its HTML and its text.
  (A transactional one, like the double opt-in's confirmation, never had one.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any

import aiosmtplib
from jinja2 import TemplateSyntaxError

from activities.rendering import Templates
from sojourn.content.store import SUFFIX, Snapshot, is_partial, kind_of, template_name
from sojourn.coupons import wheels
from sojourn.ground.settings import Settings
from sojourn.links.tracking import TrustedUrl, unmark


@dataclass
class Problem:
    part: str
    line: int | None
    reason: str

    def describe(self) -> dict[str, Any]:
        return asdict(self)


SAMPLE_CUSTOMER = {"id": "sample-customer", "email": "lisa@example.com", "first_name": "Lisa"}


def sample_data(settings: Settings) -> dict[str, Any]:
    """What journeys pass to their content, one of each."""
    store = settings.store_url.rstrip("/")
    product = {"product_id": "p-velvet", "name": "Velvet Lipstick", "price": 24.0, "url": f"{store}/p/velvet",
               "image_url": f"{store}/img/velvet.jpg", "category": "lips"}
    other = {"product_id": "p-serum", "name": "Glow Serum", "price": 39.0, "url": f"{store}/p/serum",
             "image_url": f"{store}/img/serum.jpg", "category": "skin"}
    return {
        "items": [{**product, "quantity": 1}], "cart_id": "sample-cart", "order_id": "sample-order",
        "coupon": {"code": "SAMPLE-10", "expires_at": "2026-12-31T23:59:59+00:00"},
        "code": "SAMPLE-10", "expires_at": "2026-12-31T23:59:59+00:00", "label": "10% off",
        "offer": "10% off your first order", "incentive": "10% off",
        "product": product, "products": [product, other],
        "recommendations": {kind: [product, other] for kind in (
            "popular", "you_may_also_like", "previously_viewed", "bought_together", "also_viewed")},
        "variant": "a", "title": "Sample title", "text": "Sample text", "button": "Sample button",
        "url": f"{store}/sample", "consent_text": None,
        "wheel": {"name": "first_order", "slices": [{"id": "ten", "label": "10% off"}]},
    }


def context_for(settings: Settings, customer: dict[str, Any] | None, data: dict[str, Any] | None) -> dict[str, Any]:
    """A template's context for a preview: the sample data, then `data`, then the
    customer (the sample one, hers, or a scripted one) and the links every send has."""
    public = settings.public_url.rstrip("/")
    who = {**SAMPLE_CUSTOMER, **(customer or {})}
    return {
        **sample_data(settings), **(data or {}),
        "customer": who, "store_url": TrustedUrl(settings.store_url.rstrip("/")),
        "referral_code": "SAMPLE", "referral_url": TrustedUrl(f"{public}/v1/r/SAMPLE"),
        "unsubscribe_url": TrustedUrl(f"{public}/v1/unsubscribe/preview"),
        "confirm_url": TrustedUrl(f"{public}/v1/confirm/preview"),
        "journey": "preview", "step": "preview",
    }


def with_candidate(live: Snapshot, name: str, parts: dict[str, str]) -> Templates:
    """The live content with `parts` in place of `name`'s."""
    return Templates(snapshot=Snapshot(-1, {**live.items, name: parts}, live.versions))


def render(templates: Templates, name: str, context: dict[str, Any]) -> dict[str, Any]:
    """What a send of `name` would show. Raises as a send's rendering would."""
    kind, short = kind_of(name), name.partition("/")[2]
    if kind == "email":
        if is_partial(name):
            return {part: unmark(templates.env.get_template(template_name(name, part)).render(**context))
                    for part in templates.snapshot.items[name]} if templates.snapshot else {}
        email = templates.email(short, context)
        return {"subject": email.subject, "html": email.html, "text": email.text}
    if kind == "push":
        return templates.push(short, context)
    if kind == "onsite":
        return templates.onsite(short, context)
    source = templates.snapshot.items[name]["json"] if templates.snapshot else "{}"
    return wheels.parse(short, source).describe()


def _part_of(filename: str, name: str) -> str:
    return next((part for part, suffix in SUFFIX.items() if filename == f"{name}.{suffix}"), filename)


def problem_of(exc: Exception, name: str) -> Problem:
    """The part and line an error points at: a syntax error's own, a runtime error's
    innermost frame in one of the content's templates."""
    if isinstance(exc, TemplateSyntaxError):
        return Problem(_part_of(exc.name or "", name) if exc.name else "?", exc.lineno, exc.message or str(exc))
    where: tuple[str, int] | None = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(name + ".") or filename.startswith(kind_of(name) + "/_"):
            where = (filename, tb.tb_lineno)
        tb = tb.tb_next
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, json.JSONDecodeError):
        reason = f"does not render JSON: {exc.msg} (line {exc.lineno} of what it renders)"
    if where is None:
        return Problem("json" if kind_of(name) != "email" else "?", None, reason)
    part = _part_of(where[0], name)
    return Problem(part if part != where[0] else where[0].rsplit(".", 1)[0], where[1], reason)


def check(settings: Settings, live: Snapshot, name: str, parts: dict[str, str],
          first: dict[str, str] | None) -> list[Problem]:
    """What stops `parts` from being published as `name` (empty: it may be)."""
    templates = with_candidate(live, name, parts)
    problems: list[Problem] = []
    for part in parts:
        if kind_of(name) == "wheels":
            break
        try:
            templates.env.get_template(template_name(name, part))
        except TemplateSyntaxError as exc:
            problems.append(Problem(part, exc.lineno, exc.message or str(exc)))
    if problems:
        return problems
    variants = ("a", "b") if any("variant" in source for source in parts.values()) else ("a",)
    for variant in variants:
        context = context_for(settings, None, {"variant": variant})
        try:
            shown = render(templates, name, context)
        except Exception as exc:  # whatever the marketer's template raises is a problem to show, not a crash
            found = problem_of(exc, name)
            if kind_of(name) == "wheels" or isinstance(exc, wheels.WheelError):
                found = Problem("json", None, str(exc))
            return [found]
        if kind_of(name) == "email" and not is_partial(name) and first is not None \
                and any("unsubscribe_url" in source for source in first.values()):
            for part in ("html", "text"):
                if str(context["unsubscribe_url"]) not in shown.get(part, ""):
                    problems.append(Problem(part, None, "a marketing email must show its unsubscribe link "
                                                        "({{ unsubscribe_url }}): the law and the mailbox providers "
                                                        "ask for it"))
            if problems:
                return problems
    return problems


async def send_test(settings: Settings, name: str, shown: dict[str, Any], to: str) -> str:
    """A test of an email to one address, marked as a test; not a message (no ledger,
    no tracking, no consent: the marketer sends it to herself). Returns the server's reply."""
    msg = EmailMessage()
    msg["From"] = settings.email_from
    msg["To"] = formataddr(("", to))
    msg["Subject"] = f"[Test] {shown['subject']}"
    msg["Date"] = formatdate(localtime=False)
    msg["X-Sojourn-Test"] = name
    msg.set_content(shown["text"])
    msg.add_alternative(shown["html"], subtype="html")
    host, port = settings.smtp_target
    reply = await aiosmtplib.send(
        msg, hostname=host, port=port, username=settings.smtp_username, password=settings.smtp_password,
        use_tls=settings.smtp_security == "tls", start_tls=True if settings.smtp_security == "starttls" else False,
        timeout=settings.smtp_timeout_seconds)
    return str(reply[1])
