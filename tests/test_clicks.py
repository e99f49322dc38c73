"""Tracked links: signed redirects that only reach the message's own URLs, and clicks
that journeys can wait for."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from sojourn.ground.models import Event
from sojourn.ground.settings import Settings
from sojourn.ground.signing import load_signer
from sojourn.identity.consent import ConsentRef, unsubscribe_token
from sojourn.links.referrals import referral_code
from sojourn.links.tracking import Click, LinkTracker, TrustedUrl, read_click
from tests.conftest import open_api
from tests.support.journeys import TEST_JOURNEYS, ClickProbe
from tests.support.smtp import Inbox
from worker import build_worker
from workflows.registry import JOURNEYS


async def test_a_journey_waits_for_a_click_on_its_email(env: WorkflowEnvironment, settings: Settings, sessions: Any,
                                                        inbox: Inbox, customer_id: str) -> None:
    async with build_worker(env.client, settings, sessions, extra_workflows=TEST_JOURNEYS), \
            open_api(settings, env.client, journeys=(*JOURNEYS, ClickProbe)) as api:
        await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
        await api.track(customer_id, "Click Probe")
        handle = api.client.get_workflow_handle_for(ClickProbe.run, f"probe_click:{customer_id}")
        await env.fast_forward(handle, timedelta(hours=5))
        [mail] = inbox.to(customer_id)
        html = mail.get_body(("html",)).get_content()
        links = re.findall(r'href="([^"]+)"', html)
        tracked = [link for link in links if "/v1/c/" in link]
        assert tracked and all(link.startswith("https://sojourn.test/v1/c/") for link in tracked)
        unsubscribe = [link for link in links if "/v1/unsubscribe/" in link]
        assert len(unsubscribe) == 1, "the unsubscribe link is not wrapped"

        response = await api.follow(tracked[0])
        assert (response.status_code, response.headers["location"]) == (302, "https://beauty.test/cart")
        result = await handle.result()
        assert result.outcome == "completed"
        story = "\n".join((await handle.query("state"))["timeline"])
        assert "clicked: https://beauty.test/cart" in story
    async with sessions() as session:
        clicked = await session.scalar(select(Event).where(Event.customer_id == customer_id,
                                                           Event.name == "Message Clicked"))
    assert clicked.properties["journey"] == "probe_click" and clicked.properties["step"] == "teaser"
    assert clicked.properties["channel"] == "email" and clicked.properties["url"] == "https://beauty.test/cart"


async def test_tampered_or_foreign_links_are_refused_never_redirected(api: Any, settings: Settings, sessions: Any,
                                                                      inbox: Inbox, customer_id: str) -> None:
    from temporalio.testing import ActivityEnvironment

    from activities.email import EmailActivities
    from activities.rendering import Templates
    from sojourn.ground.contracts import Send

    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))
    job = Send(key=f"k-{uuid.uuid4()}", customer_id=customer_id, journey="cart_abandonment", workflow_id="w",
               step="s", template="cart_abandonment", data={"items": []})
    assert (await ActivityEnvironment().run(email.send_email, job)).status == "sent"
    text = inbox.to(customer_id)[-1].get_body(("plain",)).get_content()
    [link] = re.findall(r"https://sojourn.test/v1/c/\S+", text)
    path = link.removeprefix("https://sojourn.test")
    payload, _, mac = path.removeprefix("/v1/c/").partition(".")
    forged = "/v1/c/" + payload[:-4] + "AAAA." + mac
    for bad in (path[:-2] + "xx", forged, "/v1/c/not-a-token", "/v1/c/aHR0cHM6Ly9ldmlsLmV4YW1wbGU"):
        response = await api.http.get(bad)
        assert response.status_code == 400 and "location" not in response.headers


@pytest.mark.parametrize("path", ["/v1/c/{}", "/v1/unsubscribe/{}", "/v1/r/{}"])
@pytest.mark.parametrize("token", ["a.%C3%A9", "%C3%A9.abc", "a.b", "a.", "abc", "a" * 600, "%00.%00", "YWJj.Zm9v"])
async def test_malformed_tokens_in_links_get_400(env: WorkflowEnvironment, settings: Settings, path: str,
                                                 token: str) -> None:
    """Whatever a person or a link scanner puts in a link: a 400, never a 500."""
    async with open_api(settings, env.client) as api:
        for method in ("GET", "POST") if "unsubscribe" in path else ("GET",):
            response = await api.http.request(method, path.format(token))
            assert response.status_code == 400, (method, response.status_code, response.text)


async def test_a_token_signed_for_one_link_opens_no_other(env: WorkflowEnvironment, settings: Settings,
                                                          sessions: Any) -> None:
    async with open_api(settings, env.client) as api:
        signer = await load_signer(sessions, settings)
        referral = referral_code(signer, "lisa")
        unsubscribe = unsubscribe_token(signer, ConsentRef("lisa", "email", "marketing"))
        assert (await api.http.get(f"/v1/c/{referral}")).status_code == 400
        assert (await api.http.get(f"/v1/unsubscribe/{referral}")).status_code == 400
        assert (await api.http.get(f"/v1/r/{unsubscribe}")).status_code == 400
        assert (await api.http.get(f"/v1/r/{referral}")).status_code == 302


async def test_only_the_brand_s_links_become_tracked_redirects(api: Any, settings: Settings, sessions: Any,
                                                               inbox: Inbox, customer_id: str) -> None:
    """A URL in a trait or a product name stays plain text: never a signed redirect."""
    from temporalio.testing import ActivityEnvironment

    from activities.email import EmailActivities
    from activities.rendering import Templates
    from tests.test_send_activities import a_send

    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test",
                                                                      "firstName": "see https://evil.example/x"}})
    send = a_send(customer_id)
    send.data = {"items": [{"name": "Lipstick, see https://evil.example/phish", "quantity": 1, "price": 24,
                            "image_url": "https://beauty.test/img/lip.png"}], "cart_id": "c-1"}
    email = EmailActivities(settings, sessions, Templates(settings.templates_dir))
    assert (await ActivityEnvironment().run(email.send_email, send)).status == "sent"
    [mail] = inbox.to(customer_id)
    signer = await load_signer(sessions, settings)
    for part in ("html", "plain"):
        body = mail.get_body((part,)).get_content()
        assert "https://evil.example/phish" in body, "left as the customer wrote it"
        tokens = re.findall(r"https://sojourn\.test/v1/c/([\w.-]+)", body)
        destinations = {read_click(signer, t).url for t in tokens}  # type: ignore[union-attr]
        assert destinations == {"https://beauty.test/cart"}, destinations
        assert "\ue000" not in body and "\ue001" not in body


def test_links_are_tracked_only_from_the_template_and_to_allowed_hosts(tmp_path: Any) -> None:
    from activities.rendering import Templates
    from sojourn.ground.signing import Signer

    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "t.subject.txt").write_text("Hi {{ name }}")
    (tmp_path / "email" / "t.html").write_text(
        '<a href="{{ store_url }}/p/{{ slug }}">a</a> <a href="https://beauty.test/new">b</a> '
        '<a href="https://instagram.com/beauty">c</a> <a href="{{ url }}">d</a> <p>{{ note }}</p>')
    (tmp_path / "email" / "t.txt").write_text("{{ store_url }}/p/{{ slug }} https://beauty.test/new {{ note }} {{ url }}")
    context = {"store_url": TrustedUrl("https://beauty.test"), "slug": "lip", "name": "Lisa",
               "url": "https://beauty.test/from-data", "note": "see https://evil.example/phish"}
    rendered = Templates(tmp_path).email("t", context, marked=True)
    signer = Signer("k")
    tracker = LinkTracker(signer, "https://sojourn.test", keep=set(), hosts=["beauty.test"])
    click = Click("c", "j", "s", "m", "email", "")
    for body in (tracker.html(rendered.html, click), tracker.text(rendered.text, click)):
        tokens = re.findall(r"https://sojourn\.test/v1/c/([\w.-]+)", body)
        assert sorted(read_click(signer, t).url for t in tokens) == [  # type: ignore[union-attr]
            "https://beauty.test/new", "https://beauty.test/p/lip"]
        assert "https://beauty.test/from-data" in body and "https://evil.example/phish" in body
    assert rendered.subject == "Hi Lisa"
