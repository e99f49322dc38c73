"""Email addresses: exactly one mailbox, checked the same way at the API and at send;
and what of her contact data must stay out of Temporal."""

from __future__ import annotations

import re
from typing import Any

from email_validator import EmailNotValidError, validate_email

__all__ = ["EmailNotValidError", "one_mailbox"]


def one_mailbox(value: str) -> str:
    """The normalized address, or EmailNotValidError: a list ("a@x, b@y"), a display
    name ("Lisa <a@x>") or a line break is refused. No DNS lookup; the reserved .test
    domain (RFC 2606), which no real mailbox has, is allowed for tests and demos."""
    return validate_email(value, check_deliverability=False, test_environment=True).normalized


_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")


def without_addresses(text: str) -> str:
    """`text` with every email address in it replaced: what goes into a workflow's
    history and timeline (an SMTP reply quotes the recipient) must not name her."""
    return _ADDRESS.sub("<address>", text)


# Segment's reserved traits that name her or say where she is reached: they stay in
# Sojourn's database, where the sends read them, and never enter a workflow's history.
PERSONAL_TRAITS = frozenset(k.lower() for k in (
    "email", "phone", "firstName", "first_name", "lastName", "last_name", "name", "username", "address",
    "avatar", "birthday", "title"))


def without_personal(traits: dict[str, Any]) -> dict[str, Any]:
    """Her traits as a journey may see them: none that names her or reaches her (by
    key, or a string value holding an email address). Journeys decide by the rest."""
    return {k: v for k, v in traits.items() if k.lower() not in PERSONAL_TRAITS
            and not (isinstance(v, str) and _ADDRESS.search(v))}


GMAIL = ("gmail.com", "googlemail.com")


def person_key(email: str) -> str:
    """One person's address, however she writes it, for once-per-person rules (a
    wheel's one spin): lower-cased, without a plus tag (me+1@ is me@, as at most
    providers), and without dots at Gmail, which ignores them. Written here rather
    than with email-normalize, which needs DNS lookups at run time to find providers.
    Never an address to send to."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"
