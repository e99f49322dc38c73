"""Every router, aggregated in one place.

Every body is capped while it is read, before any credential is checked: a 1.5 GB
body with no key is refused with a 413 after MAX_BODY_BYTES, never buffered. Ingestion
reads its own bodies under its own cap (api/calls.py: 500 KB, gzip included, with the
answer Segment's SDKs expect); the coupon CSV import has its own, larger cap."""

from fastapi import APIRouter

from api.calls import MAX_BODY_BYTES
from api.deps import StorableInput
from api.routes import (
    browser,
    clicks,
    codec,
    confirm,
    consent,
    content,
    coupons,
    customers,
    dashboard,
    funnel,
    journeys,
    metrics,
    onsite,
    opens,
    pipeline,
    products,
    push,
    recommendations,
    referrals,
    sdk,
    segments,
    stories,
    suppressions,
    tracking,
    wheels,
)

api_router = APIRouter()
api_router.include_router(tracking.router)  # capped as it reads (api/calls.py: read_body)
capped = APIRouter()
capped.include_router(sdk.router)
capped.include_router(browser.router)
capped.include_router(browser.scripts)
capped.include_router(customers.router)
capped.include_router(push.router)
capped.include_router(journeys.router)
capped.include_router(dashboard.router)
capped.include_router(metrics.router)
capped.include_router(consent.router)
capped.include_router(confirm.router)
capped.include_router(clicks.router)
capped.include_router(opens.router)
capped.include_router(referrals.router)
capped.include_router(onsite.router)
capped.include_router(suppressions.router)
capped.include_router(pipeline.router)
capped.include_router(segments.router)
capped.include_router(funnel.router)
capped.include_router(stories.router)
capped.include_router(content.router)
capped.include_router(content.changes, prefix="/v1/content")
capped.include_router(content.changes, prefix="/dashboard/content")  # the editor's calls, signed in
capped.include_router(coupons.router)
capped.include_router(recommendations.router)
capped.include_router(products.router)
capped.include_router(codec.router)
capped.include_router(wheels.router)
# And no path, query or JSON field with NUL or a lone surrogate (api/deps.py).
api_router.include_router(capped, max_body_size=MAX_BODY_BYTES, dependencies=[StorableInput])
