"""The marketer's content API (api/routes/content.py): drafts, previews, test sends,
publishing behind the checks, rollbacks, the stats per version, and the marketer's role."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.email import EmailActivities
from activities.rendering import ContentTemplates
from sojourn.content import store
from sojourn.content.store import ContentStore
from sojourn.ground.contracts import Send
from sojourn.ground.settings import Settings
from tests.conftest import MARKETER_KEY, OPERATOR_KEY, WRITE_KEY, Api, basic, open_api
from tests.support.smtp import Inbox

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
GOOD = {"subject": "Hello {{ customer.first_name }}",
        "html": "<p>Hi {{ customer.first_name }}</p>\n<a href=\"{{ store_url }}/sale\">Sale</a>\n"
                "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>",
        "text": "Hi {{ customer.first_name }}\n{{ store_url }}/sale\nUnsubscribe: {{ unsubscribe_url }}"}


def as_marketer(key: str = MARKETER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def an_email(api: Api) -> str:
    """A piece of content of the test's own (version 1), as a journey's file would be."""
    name = f"t{uuid.uuid4().hex[:12]}"
    async with api.sessions() as session:
        await store.publish(session, f"email/{name}", GOOD, "files")
        await session.commit()
    return name


async def call(api: Api, method: str, path: str, body: Any = None, key: str = MARKETER_KEY) -> Any:
    return await api.http.request(method, path, json=body, headers=as_marketer(key))


async def test_draft_preview_publish_and_roll_back(api: Api) -> None:
    name = await an_email(api)
    path = f"/v1/content/email/{name}"
    draft = await call(api, "PUT", f"{path}/draft", {"parts": {**GOOD, "subject": "Sale for {{ customer.first_name }}"}})
    assert draft.status_code == 200 and draft.json()["problems"] == [] and draft.json()["based_on"] == 1

    shown = await call(api, "POST", f"{path}/preview", {"customer": {"first_name": "Zoe"}})
    assert shown.status_code == 200, shown.text
    assert shown.json()["rendered"]["subject"] == "Sale for Zoe", "a preview shows the draft"
    live = await call(api, "POST", f"{path}/preview", {"version": 1})
    assert live.json()["rendered"]["subject"] == "Hello Lisa", "the sample customer, and the live version"

    published = await call(api, "POST", f"{path}/publish", {"note": "a sale"})
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 2
    found = (await call(api, "GET", path)).json()
    assert found["live"]["version"] == 2 and found["draft"] is None
    assert [v["version"] for v in found["versions"]] == [2, 1] and found["versions"][0]["note"] == "a sale"
    assert found["versions"][0]["created_by"] == "marketer"

    back = await call(api, "POST", f"{path}/rollback", {"version": 1})
    assert back.status_code == 200 and back.json()["revision"] > published.json()["revision"]
    found = (await call(api, "GET", path)).json()
    assert found["live"] == {"version": 1, "parts": GOOD}
    assert [p["action"] for p in found["publications"]] == ["rollback", "publish", "publish"]
    assert (await call(api, "POST", f"{path}/rollback", {"version": 9})).status_code == 404
    assert (await call(api, "POST", f"{path}/publish", {})).status_code == 409, "no draft to publish"
    listed = (await call(api, "GET", "/v1/content")).json()["content"]
    assert {"email/cart_abandonment", "onsite/registration_hero", "wheels/first_order", f"email/{name}"} <= {
        c["name"] for c in listed}


@pytest.mark.parametrize("html, part, line, reason", [
    ("<p>Hi</p>\n<p>{{ customer.first_name </p>\n{{ unsubscribe_url }}", "html", 2, "unexpected"),
    ("<p>Hi</p>\n\n{{ ''.__class__.__mro__ }}\n{{ unsubscribe_url }}", "html", 3, "SecurityError"),
    ("<p>Hi</p>\n{{ coupon.code.nope() }}\n{{ unsubscribe_url }}", "html", 2, "UndefinedError"),
    ("<p>Hi</p>\n<p>Bye</p>", "html", None, "unsubscribe link"),
])
async def test_a_bad_template_is_refused_with_its_line_and_the_live_one_stays(
        api: Api, html: str, part: str, line: int | None, reason: str) -> None:
    name = await an_email(api)
    refused = await call(api, "POST", f"/v1/content/email/{name}/publish", {"parts": {**GOOD, "html": html}})
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]["problems"]
    assert (problem["part"], problem["line"]) == (part, line) and reason in problem["reason"]
    assert f"{part}" in refused.json()["detail"]["message"]
    assert (await call(api, "GET", f"/v1/content/email/{name}")).json()["live"]["version"] == 1


async def test_the_real_cart_email_cannot_lose_its_unsubscribe_link(api: Api) -> None:
    live = (await call(api, "GET", "/v1/content/email/cart_abandonment")).json()["live"]
    cut = {**live["parts"], "text": re.sub(r".*unsubscribe_url.*\n?", "", live["parts"]["text"])}
    refused = await call(api, "POST", "/v1/content/email/cart_abandonment/publish", {"parts": cut})
    assert refused.status_code == 422 and "unsubscribe" in refused.json()["detail"]["message"]
    assert (await call(api, "GET", "/v1/content/email/cart_abandonment")).json()["live"] == live


@pytest.mark.parametrize("kind, name, source, reason", [
    ("push", "cart_abandonment", '{"body": "no title"}', "title"),
    ("onsite", "registration_hero", '{"title": "no placement"}', "placement"),
    ("onsite", "registration_hero", '{"placement": "x",\n "title": {{ nope }}}', "JSON"),
    ("wheels", "first_order", '{"slices": []}', "slices"),
    ("wheels", "first_order", 'not json', "wheel"),
])
async def test_push_onsite_and_wheels_are_checked(api: Api, kind: str, name: str, source: str, reason: str) -> None:
    refused = await call(api, "POST", f"/v1/content/{kind}/{name}/publish", {"parts": {"json": source}})
    assert refused.status_code == 422, refused.text
    assert reason in refused.json()["detail"]["message"]


async def test_the_wheel_a_shopper_sees_is_the_published_one(api: Api) -> None:
    path = "/v1/content/wheels/first_order"
    before = (await call(api, "GET", path)).json()["live"]
    wheel = (await api.http.get("/v1/wheels/first_order", headers={"Authorization": basic(WRITE_KEY)})).json()
    changed = before["parts"]["json"].replace(wheel["slices"][0]["label"], "Fifteen percent off", 1)
    assert (await call(api, "POST", f"{path}/publish", {"parts": {"json": changed}})).status_code == 201
    try:
        now = (await api.http.get("/v1/wheels/first_order", headers={"Authorization": basic(WRITE_KEY)})).json()
        assert now["slices"][0]["label"] == "Fifteen percent off"
    finally:
        await call(api, "POST", f"{path}/rollback", {"version": before["version"]})
    again = (await api.http.get("/v1/wheels/first_order", headers={"Authorization": basic(WRITE_KEY)})).json()
    assert again == wheel


async def test_a_preview_with_her_profile_and_a_test_send(api: Api, inbox: Inbox, customer_id: str) -> None:
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"first_name": "Maya", "email": "m@x.test"}})
    shown = await call(api, "POST", "/v1/content/email/cart_abandonment/preview",
                       {"customer_id": customer_id, "data": {"items": [{"name": "Rose Balm", "quantity": 2}]}})
    assert shown.status_code == 200, shown.text
    assert "Maya" in shown.json()["rendered"]["text"] and "Rose Balm" in shown.json()["rendered"]["text"]
    assert (await call(api, "POST", "/v1/content/email/cart_abandonment/preview",
                       {"customer_id": f"{customer_id}-nobody"})).status_code == 404

    to = f"{customer_id}-marketer@beauty.test"
    sent = await call(api, "POST", "/v1/content/email/cart_abandonment/test", {"to": to, "customer_id": customer_id})
    assert sent.status_code == 202, sent.text
    [mail] = inbox.to(to)
    assert mail["Subject"].startswith("[Test] ") and mail["X-Sojourn-Test"] == "email/cart_abandonment"
    assert (await call(api, "POST", "/v1/content/email/cart_abandonment/test", {"to": "a@b, c@d"})).status_code == 422
    assert (await call(api, "POST", "/v1/content/push/cart_abandonment/test", {"to": to})).status_code == 422


async def test_the_stats_compare_versions(api: Api, settings: Settings, sessions: Any, customer_id: str) -> None:
    name = await an_email(api)
    await api.post("/v1/identify", {"userId": customer_id, "traits": {"email": f"{customer_id}@mail.test"}})
    email = EmailActivities(settings, sessions, ContentTemplates(ContentStore(sessions, TEMPLATES)))

    def send(step: str) -> Send:
        return Send(key=f"content:{customer_id}/r/{step}", customer_id=customer_id, journey="content_test",
                    workflow_id=f"content_test:{customer_id}", step=step, template=name)

    for step in ("a", "b"):
        await ActivityEnvironment().run(email.send_email, send(step))
    assert (await call(api, "POST", f"/v1/content/email/{name}/publish",
                       {"parts": {**GOOD, "subject": "New"}})).status_code == 201
    await ActivityEnvironment().run(email.send_email, send("c"))
    stats = (await call(api, "GET", f"/v1/content/email/{name}")).json()["stats"]
    assert [(s["version"], s["sent"], s["clicked"]) for s in stats] == [(2, 1, 0), (1, 2, 0)]


async def test_the_marketer_key_edits_content_and_reads_stats_only(api: Api, customer_id: str) -> None:
    for method, path in [("GET", "/v1/content"), ("GET", "/v1/content/email/cart_abandonment"),
                         ("GET", "/v1/journeys"), ("GET", "/v1/journeys/cart_abandonment/stats"),
                         ("GET", "/v1/funnel"), ("GET", "/v1/stories")]:
        assert (await call(api, method, path)).status_code == 200, path
    refused = [("GET", "/v1/pipeline"), ("GET", "/v1/pipeline/dead-events"), ("POST", "/v1/pipeline/dead-events/1/retry"),
               ("GET", f"/v1/customers/{customer_id}"), ("GET", f"/v1/customers/{customer_id}/journeys"),
               ("POST", "/v1/suppressions"), ("GET", "/metrics"), ("GET", "/v1/segments"), ("GET", "/v1/coupons"),
               ("DELETE", "/v1/pipeline/dead-events/1")]
    for method, path in refused:
        answer = await call(api, method, path)
        assert answer.status_code in (401, 403), (path, answer.status_code)
    signed_in = {"Authorization": "Basic " + base64.b64encode(f"me:{MARKETER_KEY}".encode()).decode()}
    decode = await api.http.post("/v1/temporal/codec/decode", json={"payloads": []}, headers=signed_in)
    assert decode.status_code == 403, "the codec decodes what customers' journeys carry: operators only"
    # The dashboard: a marketer signs in with her key as the password.
    assert (await api.http.get("/dashboard", headers=signed_in)).status_code == 200
    # Neither a write key nor no key edits content; an operator may.
    assert (await call(api, "GET", "/v1/content", key=WRITE_KEY)).status_code == 401
    assert (await api.http.get("/v1/content")).status_code == 401
    assert (await call(api, "GET", "/v1/content", key=OPERATOR_KEY)).status_code == 200


async def test_test_sends_are_rate_limited(env: WorkflowEnvironment, settings: Settings, inbox: Inbox,
                                           customer_id: str) -> None:
    """A test goes to any address typed in: a leaked marketer key can't mail the world."""
    async with open_api(settings.model_copy(update={"content_test_rate_limit": "2/minute"}), env.client) as api:
        answers = [(await call(api, "POST", "/v1/content/email/cart_abandonment/test",
                               {"to": f"{customer_id}-{n}@beauty.test"})) for n in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].headers["Retry-After"]
    assert len(inbox.to(f"{customer_id}-2@beauty.test")) == 0
