"""Email through SMTP (aiosmtplib): multipart HTML and text from a template, with
one-click unsubscribe (RFC 8058) on marketing mail, and SMTP replies classified: a 4xx
is retried with backoff; a 5xx is a bounce, recorded, and the address suppressed."""

from __future__ import annotations

import hashlib
import html
import time
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.channel import Channel
from activities.heartbeat import keep_alive
from activities.rendering import ContentTemplates, Templates
from activities.smtp_pool import BUILD_POLICY, SmtpPool
from sojourn.ground.addresses import EmailNotValidError, one_mailbox, without_addresses
from sojourn.ground.contracts import SEND_EMAIL, Send, SendResult
from sojourn.ground.settings import Settings
from sojourn.identity.consent import suppress
from sojourn.links.tracking import Open, open_pixel


def message_id(key: str) -> str:
    # Derived from the idempotency key, so the rare re-send after a crash between
    # the SMTP reply and the ledger write carries the same Message-ID and mail
    # systems can collapse the two.
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@sojourn>"


def display_name(name: str | None) -> str:
    """A first name fit for the To header: no line breaks or other control characters
    (EmailMessage refuses them, and the send would fail on every attempt)."""
    return " ".join("".join(c if c.isprintable() else " " for c in (name or "")).split())[:100]


def smtp_reply_code(exc: aiosmtplib.SMTPException) -> int | None:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return exc.recipients[0].code
    return getattr(exc, "code", None)


class EmailActivities(Channel):
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], templates: Templates | ContentTemplates) -> None:
        super().__init__(settings, sessions, templates)
        self.smtp = SmtpPool(settings)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, send: Send) -> SendResult:
        async with keep_alive():
            return await self.measured("email", self._send_email(send))

    async def _send_email(self, send: Send) -> SendResult:
        who, done = await self.prepare(send, "email", cap=self.cap("email"), guarantee=self.guarantee(send))
        send, customer = who.send, who.customer
        if done is not None:
            activity.logger.info("%s: %s (%s); not sending", send.key, done.status, done.detail)
            return done
        context = await self.context(who)
        if who.recommendations is not None:
            context["recommendations"] = who.recommendations
        if customer is None or not customer.email:
            return await self.finish(send, "skipped", "no email address")
        try:
            # Stored before the API checked addresses, or written around it: exactly one
            # mailbox or nothing (a comma would reach a second one, past the suppressions).
            one_mailbox(customer.email)
        except EmailNotValidError as exc:
            return await self.finish(send, "skipped", f"invalid address {customer.email[:80]!r}: {exc}")
        reason = who.blocked
        if reason:
            return await self.finish(send, "skipped", reason)

        rendered = await self.render(send, "email", lambda: who.content.email(send.template, context, marked=True))
        # The brand's links become signed, tracked redirects ("Message Clicked"); URLs
        # from data stay as they are (sojourn/links/tracking.py).
        links, click = await self.tracker(context), self.click(send, "email")
        rendered.html, rendered.text = links.html(rendered.html, click), links.text(rendered.text, click)
        if self.settings.email_open_pixel:  # opens: engagement history, machine opens flagged
            pixel = open_pixel(await self.signer(), self.settings.public_url,
                               Open(send.customer_id, send.journey, send.step, send.key, time.time()))
            tag = f'<img src="{html.escape(pixel)}" width="1" height="1" alt="" style="display:none">'
            at = rendered.html.lower().rfind("</body>")
            rendered.html = rendered.html[:at] + tag + rendered.html[at:] if at >= 0 else rendered.html + tag
        msg = EmailMessage(policy=BUILD_POLICY)
        msg["From"] = self.settings.email_from
        msg["To"] = formataddr((display_name(customer.first_name), customer.email))
        msg["Subject"] = rendered.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = message_id(send.key)
        msg["X-Sojourn-Journey"] = send.journey
        msg["X-Sojourn-Step"] = send.step
        if send.topic != "transactional":
            # RFC 8058: mailbox providers POST "List-Unsubscribe=One-Click" to this URL.
            msg["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")

        try:
            reply = await self.smtp.send(msg, before_data=lambda: self.ledger.sending(send.key, customer.email))
        except aiosmtplib.SMTPException as exc:
            code = smtp_reply_code(exc)
            detail = f"{code} {getattr(exc, 'message', exc)}".strip()
            if code is not None and 500 <= code < 600:
                # Permanent: retrying won't help, and mailing the address again hurts
                # the sender's reputation. Record the bounce and suppress the address.
                await self.ledger.record(send.key, "bounced", detail, recipient=customer.email)
                async with self.sessions() as session:
                    await suppress(session, "email", customer.email, "bounce", detail)
                    await session.commit()
                return SendResult(status="failed", detail=f"bounced: {without_addresses(detail)}")
            if code is None and getattr(exc, "past_data", False):
                # Lost after DATA began, with no reply: it may have gone out. The row
                # stays `sending`; the retry applies the topic's guarantee.
                raise
            # 4xx (greylisting, mailbox busy) or no connection: the activity's retry
            # policy tries again with backoff; the claim stays open.
            await self.ledger.record(send.key, "queued", f"deferred: {detail}", recipient=customer.email)
            raise
        await self.ledger.record(send.key, "sent", reply, recipient=customer.email)
        # Her address stays in the ledger (`recipient`), out of the workflow's history and timeline.
        return SendResult(status="sent")
