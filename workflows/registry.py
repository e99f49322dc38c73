"""The registered journeys. Registering one is one line in JOURNEYS; the API routes
events from their metadata and the worker runs their workflows."""

from workflows.cart_abandonment import CartAbandonment
from workflows.journey import Journey, JourneySpec

JOURNEYS: tuple[type[Journey], ...] = (
    CartAbandonment,
)


def specs() -> list[JourneySpec]:
    return [j.spec for j in JOURNEYS]
