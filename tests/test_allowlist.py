"""Outbound HTTP stays on the allow-list: scheme, host and port; no private or
loopback addresses, checked where the connection is made; no redirects followed."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.testing import ActivityEnvironment

from activities.push import PushActivities
from activities.rendering import Templates
from sojourn.ground.allowlist import OutboundRefused, checked_session, refuse_reason, refused
from sojourn.ground.settings import Settings
from tests.conftest import Api
from tests.support.push_receiver import PushReceiver
from tests.test_send_activities import a_send

PUSH_HOSTS = ["fcm.googleapis.com", "*.push.apple.com", "hooks.example.com:8443", "10.1.2.3", "169.254.169.254"]


@pytest.mark.parametrize("url, reason", [
    ("https://fcm.googleapis.com/fcm/send/x", None),
    ("https://fcm.googleapis.com:443/fcm/send/x", None),
    ("https://api.push.apple.com/3/device/x", None),
    ("https://hooks.example.com:8443/x", None),
    ("https://fcm.googleapis.com:22/x", "is not an allowed"),
    ("https://fcm.googleapis.com:5432/x", "is not an allowed"),
    ("https://hooks.example.com/x", "is not an allowed"),  # its entry names 8443
    ("http://fcm.googleapis.com/x", "must be an https URL"),
    ("https://user:pw@fcm.googleapis.com/x", "must not carry credentials"),
    ("https://[fe80::1%25eth0]/x", "zone identifier"),
    ("https://10.1.2.3/x", "private or reserved"),
    ("https://169.254.169.254/latest/meta-data", "private or reserved"),
    ("https://evil.example/x", "is not an allowed"),
    ("ftp://fcm.googleapis.com/x", "must be an https URL"),
    ("https://fcm.googleapis.com:99999/x", "is not a valid URL"),
])
def test_the_allow_list_matches_scheme_host_and_port(url: str, reason: str | None) -> None:
    found = refuse_reason(url, PUSH_HOSTS)
    assert (found is None) if reason is None else (found is not None and reason in found), found


def test_loopback_only_when_allowed_for_local_development() -> None:
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    for url in ("http://127.0.0.1:8080/p", "http://localhost:8080/p", "http://[::1]:8080/p"):
        assert refuse_reason(url, hosts) is not None
        assert refuse_reason(url, hosts, allow_loopback=True) is None


async def test_a_name_is_checked_where_the_connection_is_made() -> None:
    """The resolver checks what the name resolves to at connect time, and aiohttp then
    connects to exactly those addresses (no second lookup to rebind)."""
    async def hook(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with checked_session(allow_loopback=False) as http:
            with pytest.raises(aiohttp.ClientConnectorError) as failure:
                await http.post(f"http://localhost:{port}/hook")
            assert isinstance(refused(failure.value), OutboundRefused)
        async with checked_session(allow_loopback=True) as http:
            async with http.post(f"http://localhost:{port}/hook") as response:
                assert response.status == 200
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_push_service_that_redirects_is_not_followed(api: Api, settings: Settings, sessions: Any,
                                                             push_service: PushReceiver, customer_id: str,
                                                             status: int) -> None:
    """A 307 or 308 would re-send the POST elsewhere: any redirect ends the delivery."""
    stolen: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": f"http://127.0.0.1:{port}/steal"})

    async def steal(request: web.Request) -> web.Response:
        stolen.append(request.path)
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/push/{name}", redirect)
    app.router.add_post("/steal", steal)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        browser = push_service.browser(f"{customer_id}-r")
        response = await api.post(f"/v1/customers/{customer_id}/push-subscriptions",
                                  browser.subscription(f"http://127.0.0.1:{port}"))
        assert response.status_code == 201, response.text
        push = PushActivities(settings, sessions, Templates(settings.templates_dir))
        result = await ActivityEnvironment().run(push.send_push, a_send(customer_id, f"push-{uuid.uuid4()}"))
    finally:
        await runner.cleanup()
    assert result.status == "failed", result
    assert stolen == []
