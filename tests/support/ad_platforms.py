"""Local stand-ins for the ad platforms' audience APIs, checking each request against
the documented format before they record it: Meta's Custom Audience users endpoint,
Google Ads' offline user data jobs for Customer Match, and a signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

HEX64 = re.compile(r"^[0-9a-f]{64}$")
META_TOKEN, GOOGLE_TOKEN, DEVELOPER_TOKEN = "meta-token", "google-token", "dev-token"


@dataclass
class AdPlatforms:
    webhook_secret: str = ""
    meta: list[tuple[str, str, list[list[str]]]] = field(default_factory=list)  # (audience, POST|DELETE, rows)
    google: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)  # (user list, op, identifiers)
    google_consents: list[dict[str, str] | None] = field(default_factory=list)  # each operation's UserData.consent
    job_consents: list[dict[str, str] | None] = field(default_factory=list)  # each job's metadata consent
    webhook: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # requests that broke the format, and why
    throttle_meta: int = 0  # answer this many Meta requests with a rate limit first
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/meta/v21.0/{audience}/users", self._meta)
        app.router.add_post("/google/v18/customers/{customer}/offlineUserDataJobs:create", self._google_create)
        app.router.add_post("/google/v18/customers/{customer}/offlineUserDataJobs/{job_action}", self._google_job)
        app.router.add_post("/hook/audiences", self._webhook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def _bad(self, why: str) -> web.Response:
        self.refused.append(why)
        return web.json_response({"error": {"message": why, "code": 100}}, status=400)

    async def _meta(self, request: web.Request) -> web.Response:
        if request.method not in ("POST", "DELETE"):
            return self._bad(f"method {request.method}")
        if request.headers.get("Authorization") != f"Bearer {META_TOKEN}":
            return self._bad("no access token")
        if self.throttle_meta > 0:
            self.throttle_meta -= 1
            return web.json_response({"error": {"message": "(#80003) There have been too many calls",
                                                "code": 80003}}, status=400)
        body = await request.json()
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, dict) or payload.get("schema") != ["EMAIL", "PHONE"]:
            return self._bad(f"schema: {payload!r:.100}")
        rows = payload.get("data")
        if not isinstance(rows, list) or not 1 <= len(rows) <= 10_000:
            return self._bad(f"data must hold 1 to 10,000 rows, not {len(rows) if isinstance(rows, list) else rows}")
        for row in rows:
            if not (isinstance(row, list) and len(row) == 2 and all(v == "" or HEX64.match(v) for v in row)
                    and any(row)):
                return self._bad(f"row {row!r:.100}: normalized SHA-256 hex values expected")
        self.meta.append((request.match_info["audience"], request.method, rows))
        return web.json_response({"audience_id": request.match_info["audience"], "num_received": len(rows),
                                  "num_invalid_entries": 0})

    @staticmethod
    def _consent(consent: Any) -> bool:
        """Google Ads' Consent message: ConsentStatus values for its two fields."""
        statuses = {"UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"}
        return (isinstance(consent, dict) and set(consent) <= {"adUserData", "adPersonalization"}
                and all(v in statuses for v in consent.values()))

    def _google_headers(self, request: web.Request) -> str | None:
        if request.headers.get("Authorization") != f"Bearer {GOOGLE_TOKEN}":
            return "no OAuth token"
        if request.headers.get("developer-token") != DEVELOPER_TOKEN:
            return "no developer token"
        return None

    async def _google_create(self, request: web.Request) -> web.Response:
        if (why := self._google_headers(request)) is not None:
            return self._bad(why)
        customer = request.match_info["customer"]
        job = (await request.json()).get("job", {})
        metadata = job.get("customerMatchUserListMetadata", {})
        user_list = metadata.get("userList", "")
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or not user_list.startswith(f"customers/{customer}/userLists/"):
            return self._bad(f"job: {job!r:.200}")
        if "consent" in metadata and not self._consent(metadata["consent"]):
            return self._bad(f"consent: {metadata['consent']!r:.100}")
        self.job_consents.append(metadata.get("consent"))
        name = f"customers/{customer}/offlineUserDataJobs/{len(self.jobs) + 1}"
        self.jobs[name] = {"user_list": user_list, "operations": [], "consents": [], "ran": False}
        return web.json_response({"resourceName": name})

    async def _google_job(self, request: web.Request) -> web.Response:
        if (why := self._google_headers(request)) is not None:
            return self._bad(why)
        job_id, _, action = request.match_info["job_action"].partition(":")
        name = f"customers/{request.match_info['customer']}/offlineUserDataJobs/{job_id}"
        job = self.jobs.get(name)
        if job is None or job["ran"]:
            return self._bad(f"no open job {name}")
        body = await request.json()
        if action == "addOperations":
            for operation in body.get("operations", []):
                kinds = [k for k in ("create", "remove") if k in operation]
                ids = operation[kinds[0]].get("userIdentifiers") if len(kinds) == 1 else None
                if not ids or not all(len(i) == 1 and next(iter(i)) in ("hashedEmail", "hashedPhoneNumber")
                                      and HEX64.match(next(iter(i.values()))) for i in ids):
                    return self._bad(f"operation {operation!r:.200}")
                consent = operation[kinds[0]].get("consent")
                if consent is not None and not self._consent(consent):
                    return self._bad(f"consent: {consent!r:.100}")
                job["operations"].append((kinds[0], ids))
                job["consents"].append(consent)
            return web.json_response({})
        if action == "run":
            job["ran"] = True
            for (kind, ids), consent in zip(job["operations"], job["consents"], strict=True):
                self.google.append((job["user_list"], kind, ids))
                self.google_consents.append(consent)
            return web.json_response({"name": f"operations/{job_id}"})
        return self._bad(f"action {action}")

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get("X-Sojourn-Signature", "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        mac = hmac.new(self.webhook_secret.encode(), f"{parts.get('t', '')}.".encode() + body, hashlib.sha256)
        if not hmac.compare_digest(mac.hexdigest(), parts.get("v1", "")):
            return self._bad("bad signature")
        self.webhook.append(json.loads(body))
        return web.json_response({"ok": True})
