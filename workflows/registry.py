"""The registered journeys. Registering one is one line in JOURNEYS; the API routes
events from their metadata and the worker runs their workflows."""

from workflows.account_registration import AccountRegistration
from workflows.app_banner_test import AppBannerTest
from workflows.cart_abandonment import CartAbandonment
from workflows.first_purchase_incentive import FirstPurchaseIncentive
from workflows.journey import Journey
from workflows.lead_capture import LeadCapture
from workflows.loyalty_signup_abandonment import LoyaltySignupAbandonment
from workflows.post_purchase import PostPurchase
from workflows.product_discovery import ProductDiscovery
from workflows.referral_ask import ReferralAsk
from workflows.registration_page_test import RegistrationPageTest
from workflows.spec import JourneySpec

JOURNEYS: tuple[type[Journey], ...] = (
    CartAbandonment,
    FirstPurchaseIncentive,
    LeadCapture,
    LoyaltySignupAbandonment,
    ReferralAsk,
    RegistrationPageTest,
    AppBannerTest,
    AccountRegistration,
    ProductDiscovery,
    PostPurchase,
)


def specs() -> list[JourneySpec]:
    return [j.spec for j in JOURNEYS]


def by_name(name: str) -> type[Journey] | None:
    return next((j for j in JOURNEYS if j.spec.name == name), None)
