"""Property matching beyond equality: Prefix, Contains and OneOf, each taking a
Setting anywhere; inside a workflow (no settings) what needs a setting was the API's
to check. Never raises on odd property values."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from workflows.kit.journey import Contains, JourneyEvent, On, OneOf, Prefix, Setting

SETTINGS = SimpleNamespace(loyalty_signup_path="/loyalty", landing_paths=["/spring", "/summer"], vip="gold")


def page(**props: Any) -> JourneyEvent:
    return JourneyEvent(message_id="m", type="page", name="", customer_id="c", properties=props)


def test_prefix_contains_and_one_of() -> None:
    loyalty = On(type="page", props={"path": Prefix(Setting("loyalty_signup_path"))})
    assert loyalty.matches(page(path="/loyalty/join"), SETTINGS)
    assert not loyalty.matches(page(path="/shop/loyalty"), SETTINGS)
    assert loyalty.matches(page(path="/anything"), None), "inside a workflow the router already checked it"
    assert On(type="page", props={"path": Prefix("/checkout")}).matches(page(path="/checkout/pay"))
    tagged = On("Product Viewed", props={"tags": Contains("vegan"), "name": Contains("Lip")})
    viewed = JourneyEvent("m", "track", "Product Viewed", "c", {"tags": ["vegan", "new"], "name": "Lip Liner"})
    assert tagged.matches(viewed) and not tagged.matches(JourneyEvent("m", "track", "Product Viewed", "c",
                                                                      {"tags": "vegan", "name": "Mascara"}))
    landing = On(type="page", props={"path": OneOf("/welcome", Setting("landing_paths"))})
    assert [landing.matches(page(path=p), SETTINGS) for p in ("/welcome", "/summer", "/winter")] == [True, True, False]
    tier = On("Order Completed", props={"tier": OneOf(Setting("vip"), "platinum"), "gift": OneOf(True)})
    assert tier.matches(JourneyEvent("m", "track", "Order Completed", "c", {"tier": "gold", "gift": True}), SETTINGS)
    assert not tier.matches(JourneyEvent("m", "track", "Order Completed", "c", {"tier": "gold", "gift": 1}), SETTINGS), \
        "1 is not True"
    assert landing.describe()["properties"] == {"path": {"one_of": ["/welcome", "<setting landing_paths>"]}}
    assert loyalty.describe()["properties"] == {"path": {"prefix": "<setting loyalty_signup_path>"}}


odd = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
                   lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner,
                                                                                          max_size=3)), max_leaves=8)


@given(value=odd, needle=odd)
def test_no_property_value_makes_a_matcher_raise(value: Any, needle: Any) -> None:
    for matcher in (Prefix(needle), Contains(needle), OneOf(needle, "x")):
        try:
            On(type="page", props={"path": matcher}).matches(page(path=value), SETTINGS)
        except TypeError as err:  # e.g. an unhashable needle in a list: must not happen
            raise AssertionError(f"{matcher} raised on {value!r}") from err
