"""Hypothesis drives the marketer's content API (api/routes/content.py) on both
databases: whatever she sends (names, parts, templates that break in every way, sample
customers, data), no answer is a 5xx, and a publish is whole or not at all: the new
version live exactly as sent, or refused and the live one unchanged."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sojourn.content import store
from tests.conftest import MARKETER_KEY, Api
from tests.test_ingest_fuzz import encode, json_values, leaves, texts

FRAGMENTS = st.sampled_from([
    "{{", "}}", "{%", "%}", "{#", "#}", "{{ customer.first_name }}", "{{ unsubscribe_url }}", "{{ store_url }}/x",
    "{% for p in products %}{{ p.name }}{% endfor %}", "{% if coupon %}{{ coupon.code }}{% endif %}", "{% endfor %}",
    "{{ ''.__class__.__mro__ }}", "{{ 1/0 }}", '{{ "x" * 10**9 }}', "{{ 9 ** 9 ** 9 }}", "{{ range(10**9) }}",
    "{{ coupon.expires_at[:10] }}", '{% include "email/_coupon.html" %}', '{% include "nope.html" %}',
    "{{ items | tojson }}", '{"placement": "p", "title": "t"}', '{"title": 1}', "\n", "<a href='https://x.test'>x</a>",
    "{{ variant }}", "{% set x = {} %}{{ x.y.z }}", "{{ lipsum(10**6) }}",
])
safe_text = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=20)
joined = st.lists(st.one_of(FRAGMENTS, safe_text), max_size=8).map("".join)
sources = st.one_of(joined, joined, joined, texts)
link = st.sampled_from(["{{ unsubscribe_url }}", "{{ unsubscribe_url }}", ""])  # mostly kept: publishable
email_parts = st.fixed_dictionaries({"subject": sources, "html": st.tuples(sources, link).map("".join),
                                     "text": st.tuples(link, sources).map("".join)})
parts = st.one_of(
    email_parts, email_parts,
    st.fixed_dictionaries({}, optional={"subject": sources, "html": sources, "text": sources, "json": sources,
                                        "other": sources}),
    json_values)
names = st.one_of(st.just("email/OWN"), st.just("email/OWN"), st.sampled_from(["email/OWN", "push/cart_abandonment", "onsite/registration_hero",
                                   "wheels/first_order", "email/_coupon", "email/nope", "sms/x", "email/a.b"]),
                  st.tuples(st.sampled_from(["email", "push", "x"]), texts).map(lambda t: f"{t[0]}/{t[1]}"))
samples = st.fixed_dictionaries({}, optional={
    "customer": st.one_of(st.dictionaries(texts, leaves, max_size=3), json_values),
    "data": st.one_of(st.dictionaries(st.sampled_from(["items", "coupon", "variant", "products"]), json_values,
                                      max_size=3), json_values),
    "customer_id": texts, "version": st.one_of(st.integers(-3, 2**40), leaves), "to": texts})


@hsettings(max_examples=100, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=names, draft=parts, sample=samples, publish=parts, version=st.one_of(st.integers(-2, 2**40), leaves))
async def test_no_content_input_gets_a_5xx_and_a_publish_is_whole(
        routerless_api: Api, name: str, draft: Any, sample: Any, publish: Any, version: Any) -> None:
    api, marketer = routerless_api.http, {"Authorization": f"Bearer {MARKETER_KEY}", "Content-Type": "application/json"}
    own = f"t{uuid.uuid4().hex[:12]}"
    if name == "email/OWN":  # the test's own email, so that publishing changes nobody else's
        async with routerless_api.sessions() as session:
            await store.publish(session, f"email/{own}", {"subject": "s", "html": "{{ unsubscribe_url }}",
                                                          "text": "{{ unsubscribe_url }}"}, "files")
            await session.commit()
        name = f"email/{own}"
    kind, _, short = name.partition("/")
    path = f"/v1/content/{quote(kind, safe='', errors='surrogatepass')}/{quote(short, safe='', errors='surrogatepass') or '%20'}"
    ok = (200, 201, 202, 204, 400, 404, 405, 409, 413, 422)

    saved = await api.put(f"{path}/draft", content=encode({"parts": draft}), headers=marketer)
    assert saved.status_code in ok, (saved.status_code, saved.text[:300])
    event(f"draft {saved.status_code}" + (f" {saved.json().get('error')}"[:50] if saved.status_code == 400 else ""))
    if saved.status_code == 200 and name != f"email/{own}":  # others' drafts are left as they were
        assert (await api.delete(f"{path}/draft", headers=marketer)).status_code == 204
    for action in ("preview", "test"):
        shown = await api.post(f"{path}/{action}", content=encode(sample), headers=marketer)
        assert shown.status_code in (*ok, 502), (action, shown.status_code, shown.text[:300])
    if name == f"email/{own}" or not (isinstance(version, int) and 1 <= version < 1000):  # no one else's
        rolled = await api.post(f"{path}/rollback", content=encode({"version": version}), headers=marketer)
        assert rolled.status_code in (200, 400, 404, 405, 422), (rolled.status_code, rolled.text[:300])

    # Reading: the editor's page and a journey's map, by any name.
    signed_in = {"Authorization": "Basic " + base64.b64encode(f"m:{MARKETER_KEY}".encode()).decode()}
    editor = await api.get(f"/dashboard{path[3:]}", headers=signed_in)
    assert editor.status_code in (200, 400, 404, 405), (editor.status_code, editor.text[:300])
    drawn = await api.get(f"/v1/journeys/{quote(short, safe='', errors='surrogatepass') or '%20'}/map",
                          headers=marketer)
    assert drawn.status_code in (200, 400, 404, 405), (drawn.status_code, drawn.text[:300])

    if name != f"email/{own}":
        return  # nobody else's content is published here
    before = (await api.get(path, headers=marketer)).json()["live"]
    published = await api.post(f"{path}/publish", content=encode({"parts": publish}), headers=marketer)
    assert published.status_code in ok, (published.status_code, published.text[:300])
    event(f"publish {published.status_code}")
    after = (await api.get(path, headers=marketer)).json()["live"]
    if published.status_code == 201:
        assert after == {"version": published.json()["version"], "parts": publish}
    else:
        assert after == before
