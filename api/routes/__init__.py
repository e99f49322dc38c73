"""Every router, aggregated in one place."""

from fastapi import APIRouter

from api.routes import (
    browser,
    clicks,
    consent,
    coupons,
    customers,
    dashboard,
    journeys,
    metrics,
    onsite,
    opens,
    pipeline,
    push,
    recommendations,
    referrals,
    sdk,
    segments,
    suppressions,
    tracking,
    wheels,
)

api_router = APIRouter()
api_router.include_router(tracking.router)
api_router.include_router(sdk.router)
api_router.include_router(browser.router)
api_router.include_router(browser.scripts)
api_router.include_router(customers.router)
api_router.include_router(push.router)
api_router.include_router(journeys.router)
api_router.include_router(dashboard.router)
api_router.include_router(metrics.router)
api_router.include_router(consent.router)
api_router.include_router(clicks.router)
api_router.include_router(opens.router)
api_router.include_router(referrals.router)
api_router.include_router(onsite.router)
api_router.include_router(suppressions.router)
api_router.include_router(pipeline.router)
api_router.include_router(segments.router)
api_router.include_router(coupons.router)
api_router.include_router(recommendations.router)
api_router.include_router(wheels.router)
