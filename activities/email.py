"""Email through SMTP (aiosmtplib): multipart HTML and text from a template."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib
from temporalio import activity

from activities.contracts import SEND_EMAIL, Send, SendResult
from activities.channel import Channel


def message_id(key: str) -> str:
    # Derived from the idempotency key, so the rare re-send after a crash between
    # the SMTP reply and the ledger write carries the same Message-ID and mail
    # systems can collapse the two.
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@sojourn>"


class EmailActivities(Channel):
    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, send: Send) -> SendResult:
        done = await self.ledger.claim(send, "email")
        if done is not None:
            activity.logger.info("%s already %s; not sending again", send.key, done.status)
            return done
        customer, context = await self.customer_and_context(send)
        if customer is None or not customer.email:
            await self.ledger.record(send.key, "skipped", "no email address")
            return SendResult(status="skipped", detail="no email address")

        rendered = await self.render(send, "email", lambda: self.templates.email(send.template, context))
        msg = EmailMessage()
        msg["From"] = self.settings.email_from
        msg["To"] = formataddr((customer.first_name or "", customer.email))
        msg["Subject"] = rendered.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = message_id(send.key)
        msg["X-Sojourn-Journey"] = send.journey
        msg["X-Sojourn-Step"] = send.step
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")

        host, port = self.settings.smtp_target
        errors, reply = await aiosmtplib.send(
            msg,
            hostname=host,
            port=port,
            username=self.settings.smtp_username,
            password=self.settings.smtp_password,
            use_tls=self.settings.smtp_security == "tls",
            start_tls=True if self.settings.smtp_security == "starttls" else False,
            timeout=self.settings.smtp_timeout_seconds,
        )
        # aiosmtplib raises on a refused message; anything returned was accepted.
        await self.ledger.record(send.key, "sent", reply, recipient=customer.email)
        return SendResult(status="sent", detail=f"to {customer.email}")
