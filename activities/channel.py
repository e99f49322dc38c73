"""What every send activity shares: settings, the database, the ledger, templates and
the signer for tokens in links."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.contracts import Send
from activities.customers import load_customer, template_context
from activities.ledger import Ledger
from activities.rendering import Templates
from sojourn.models import Customer
from sojourn.settings import Settings
from sojourn.signing import Signer, load_signer


class Channel:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], templates: Templates) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ledger = Ledger(sessions)
        self.templates = templates
        self._signer: Signer | None = None

    async def signer(self) -> Signer:
        if self._signer is None:
            self._signer = await load_signer(self.sessions, self.settings)
        return self._signer

    async def customer_and_context(self, send: Send) -> tuple[Customer | None, dict[str, Any]]:
        customer = await load_customer(self.sessions, send.customer_id)
        return customer, template_context(self.settings, await self.signer(), customer, send)
