"""The registered journeys. Registering one is one line in JOURNEYS; the API routes
events from their metadata and the worker runs their workflows."""

from sojourn.ground.spec import JourneySpec
from workflows.journeys.account_registration import AccountRegistration
from workflows.journeys.app_banner_experiment import AppBannerTest
from workflows.journeys.cart_abandonment import CartAbandonment
from workflows.journeys.email_confirmation import EmailConfirmation
from workflows.journeys.first_purchase_incentive import FirstPurchaseIncentive
from workflows.journeys.home_stories import HomeStories
from workflows.journeys.lead_capture import LeadCapture
from workflows.journeys.loyalty_signup_abandonment import LoyaltySignupAbandonment
from workflows.journeys.post_purchase import PostPurchase
from workflows.journeys.product_discovery import ProductDiscovery
from workflows.journeys.referral_ask import ReferralAsk
from workflows.journeys.referral_reward import ReferralReward
from workflows.journeys.referral_welcome import ReferralWelcome
from workflows.journeys.registration_page_experiment import RegistrationPageTest
from workflows.journeys.win_back import WinBack
from workflows.kit.journey import Journey

JOURNEYS: tuple[type[Journey], ...] = (
    CartAbandonment,
    FirstPurchaseIncentive,
    LeadCapture,
    LoyaltySignupAbandonment,
    ReferralAsk,
    ReferralWelcome,
    ReferralReward,
    RegistrationPageTest,
    AppBannerTest,
    AccountRegistration,
    ProductDiscovery,
    HomeStories,
    PostPurchase,
    WinBack,
    EmailConfirmation,  # double opt-in: not the guide's, the law's
)


def specs() -> list[JourneySpec]:
    return [j.spec for j in JOURNEYS]


def by_name(name: str) -> type[Journey] | None:
    return next((j for j in JOURNEYS if j.spec.name == name), None)
