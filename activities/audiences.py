"""Ad audiences: the kit's joins and leaves (`change_audience`), and the scheduled sync
that tells each ad platform who joined and who left, in batches
(`sync_audiences`; formats and consent: sojourn/audiences/members.py).

Outbound requests go only to SOJOURN_AUDIENCE_ALLOWED_HOSTS and never follow a
redirect. A rate limit (HTTP 429, or Meta's throttling codes) is waited out
(Retry-After, else 1, 2, 4 s); past that the activity fails and Temporal retries it with
backoff. A batch is recorded as told only after the platform answered 2xx, so a crash
in between sends that batch again: both platforms treat adding someone already in an
audience, or removing someone absent, as a no-op.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import keep_alive
from activities.webhook import SIGNATURE_HEADER, signature
from sojourn.audiences import members
from sojourn.ground.allowlist import checked_session, refuse_reason
from sojourn.ground.contracts import CHANGE_AUDIENCE, SYNC_AUDIENCES, AudienceChange, AudienceSyncResult
from sojourn.ground.settings import AudienceDestination, Settings
from sojourn.identity.linking import canonical

META_THROTTLED = {4, 17, 32, 613, 80003}  # Graph API error codes that mean "slow down"
TRIES = 4
ROUNDS = 50  # batches per audience per run; the next run carries on


class RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited; retry in {wait:g}s")
        self.wait = wait


class AudienceActivities:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions

    @activity.defn(name=CHANGE_AUDIENCE)
    async def change_audience(self, change: AudienceChange) -> None:
        async with self.sessions() as session:
            customer = await canonical(session, change.customer_id)
            await members.set_member(session, change.audience, customer, change.member, change.reason)
            await session.commit()

    @activity.defn(name=SYNC_AUDIENCES)
    async def sync_audiences(self) -> AudienceSyncResult:
        result = AudienceSyncResult()
        async with keep_alive():
            for name, destination in sorted(self.settings.audience_destinations.items()):
                refusal = refuse_reason(destination.url, self.settings.audience_allowed_hosts, "audience host",
                                        allow_loopback=self.settings.outbound_allow_loopback)
                if refusal:
                    activity.logger.warning("audience destination %s skipped: %s", name, refusal)
                    result.skipped.append(f"{name}: {refusal}")
                    continue
                for audience, platform_id in sorted(destination.audiences.items()):
                    added, removed = await self._sync(name, destination, audience, platform_id)
                    result.added += added
                    result.removed += removed
        return result

    async def _sync(self, name: str, destination: AudienceDestination, audience: str,
                    platform_id: str) -> tuple[int, int]:
        batch = {"meta": members.META_BATCH, "google": members.GOOGLE_BATCH}.get(destination.type,
                                                                                    members.WEBHOOK_BATCH)
        added = removed = 0
        for _ in range(ROUNDS):
            async with self.sessions() as session:
                todo = await members.changes(session, name, audience, batch, eu=self.settings.eu_consent)
            if not todo.add and not todo.remove:
                break
            for people, member in ((todo.add, True), (todo.remove, False)):
                if not people:
                    continue
                await self._tell(destination, audience, platform_id, people, member)
                async with self.sessions() as session:
                    await members.told(session, name, audience, people, member)
                    await session.commit()
                if member:
                    added += len(people)
                else:
                    removed += len(people)
            activity.heartbeat(f"{name}/{audience}: +{added} -{removed}")
        return added, removed

    async def _tell(self, destination: AudienceDestination, audience: str, platform_id: str,
                    people: list[members.Person], member: bool) -> None:
        for attempt in range(TRIES):
            try:
                async with checked_session(self.settings.outbound_allow_loopback,
                                           timeout=aiohttp.ClientTimeout(total=60)) as http:
                    if destination.type == "meta":
                        await self._meta(http, destination, platform_id, people, member)
                    elif destination.type == "google":
                        await self._google(http, destination, platform_id, people, member)
                    else:
                        await self._webhook(http, destination, audience, people, member)
                return
            except RateLimited as limited:
                if attempt == TRIES - 1:
                    raise ApplicationError(str(limited), type="AudienceRateLimited") from None
                await asyncio.sleep(min(limited.wait, 30))

    @staticmethod
    async def _answer(response: aiohttp.ClientResponse, what: str) -> Any:
        text = await response.text()
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {}
        if response.status == 429 or (isinstance(body, dict) and isinstance(body.get("error"), dict)
                                      and body["error"].get("code") in META_THROTTLED):
            retry = response.headers.get("Retry-After")
            raise RateLimited(float(retry) if retry and retry.isdigit() else 1.0)
        if not 200 <= response.status < 300:
            raise ApplicationError(f"{what} answered {response.status} {text[:200]}", type="AudienceRefused")
        return body

    async def _meta(self, http: aiohttp.ClientSession, destination: AudienceDestination, audience_id: str,
                    people: list[members.Person], member: bool) -> None:
        body = {"payload": {"schema": ["EMAIL", "PHONE"], "data": [p.meta_row() for p in people]}}
        async with http.request("POST" if member else "DELETE", f"{destination.url.rstrip('/')}/{audience_id}/users",
                                json=body, headers={"Authorization": f"Bearer {destination.token or ''}"},
                                allow_redirects=False) as response:
            await self._answer(response, "Meta")

    async def _google(self, http: aiohttp.ClientSession, destination: AudienceDestination, user_list: str,
                      people: list[members.Person], member: bool) -> None:
        base = destination.url.rstrip("/")
        customer = destination.customer_id or ""
        headers = {"Authorization": f"Bearer {destination.token or ''}",
                   "developer-token": destination.developer_token or ""}
        if destination.login_customer_id:
            headers["login-customer-id"] = destination.login_customer_id
        # No consent for the whole job: each person carries her own (UserData.consent),
        # what she chose, never a blanket GRANTED (sojourn/audiences/members.py).
        job = {"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {
            "userList": f"customers/{customer}/userLists/{user_list}"}}}
        async with http.post(f"{base}/customers/{customer}/offlineUserDataJobs:create", json=job, headers=headers,
                             allow_redirects=False) as response:
            created = await self._answer(response, "Google Ads")
        resource = created.get("resourceName") if isinstance(created, dict) else None
        if not isinstance(resource, str) or not resource.startswith(f"customers/{customer}/offlineUserDataJobs/"):
            raise ApplicationError(f"Google Ads created no job: {str(created)[:200]}", type="AudienceRefused")
        operation = "create" if member else "remove"
        operations = [{operation: {"userIdentifiers": p.google_identifiers(),
                                   **({"consent": p.google_consent()} if member else {})}} for p in people]
        async with http.post(f"{base}/{resource}:addOperations", json={"enablePartialFailure": True,
                                                                       "operations": operations},
                             headers=headers, allow_redirects=False) as response:
            await self._answer(response, "Google Ads")
        async with http.post(f"{base}/{resource}:run", json={}, headers=headers, allow_redirects=False) as response:
            await self._answer(response, "Google Ads")

    async def _webhook(self, http: aiohttp.ClientSession, destination: AudienceDestination, audience: str,
                       people: list[members.Person], member: bool) -> None:
        if not self.settings.webhook_secret:
            raise ApplicationError("SOJOURN_WEBHOOK_SECRET is not set; audience webhooks are never sent unsigned",
                                   type="AudienceRefused", non_retryable=True)
        body = json.dumps({"audience": audience, "action": "add" if member else "remove",
                           "members": [p.hashed() for p in people]}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Sojourn-Audiences/1",
                   SIGNATURE_HEADER: signature(self.settings.webhook_secret, int(time.time()), body)}
        async with http.post(destination.url, data=body, headers=headers, allow_redirects=False) as response:
            await self._answer(response, "the audience webhook")
