"""One settings class for the API, the worker and the CLI.

Every value comes from a ``SOJOURN_*`` environment variable (or a ``.env`` file) so
that docker-compose can hand the API and the workers the very same block.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _root() -> Path:
    """A checkout's top (templates/, migrations/, var/ beside the code), or, for an
    installed Sojourn (a wheel, the Docker image), the directory it runs in."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "migrations").is_dir() else Path.cwd()


ROOT = _root()

# Push services of the major browsers (Chrome/Edge via FCM, Firefox, Safari, Windows).
# A subscription is a URL the *client* hands us; the worker only POSTs to these hosts.
DEFAULT_PUSH_HOSTS = [
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
]


_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_caps(spec: str) -> dict[str, tuple[int, timedelta]]:
    """"email=3/24h,push=2/1d" -> {"email": (3, 24 h), "push": (2, 1 day)}."""
    caps: dict[str, tuple[int, timedelta]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        try:
            channel, _, rule = part.partition("=")
            count, _, window = rule.partition("/")
            caps[channel.strip()] = (int(count), timedelta(**{_UNITS[window.strip()[-1]]: float(window.strip()[:-1])}))
        except (KeyError, ValueError, IndexError):
            raise ValueError(f"frequency cap {part!r} must look like email=3/24h (units m, h, d)") from None
    return caps


GUARANTEES = ("at-most-once", "at-least-once")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return _commas(value)
    return value


def _commas(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class AudienceDestination(BaseModel):
    """One ad platform an audience is synced to (sojourn/audiences/members.py)."""

    type: Literal["meta", "google", "webhook"]
    url: str  # Meta: the Graph API base; Google: the Google Ads API base; webhook: its URL
    token: str | None = None  # Meta's or Google's OAuth access token
    audiences: dict[str, str] = Field(default_factory=dict)  # Sojourn's name -> the platform's id
    customer_id: str | None = None  # Google Ads customer
    developer_token: str | None = None  # Google Ads
    login_customer_id: str | None = None  # Google Ads manager account, if any


WORKFLOW_CACHE_SIZE = 1000


class Settings(BaseSettings):
    # `__` nests: SOJOURN_JOURNEYS__POST_PURCHASE__SECOND_ORDER_COUPON_DAYS=45 sets one
    # journey's parameter (`journeys` below).
    model_config = SettingsConfigDict(env_prefix="SOJOURN_", env_file=".env", extra="ignore",
                                      env_nested_delimiter="__")

    # Storage. SQLite by default so `make dev` needs nothing installed; PostgreSQL in production.
    database_url: str = f"sqlite+aiosqlite:///{ROOT / 'var' / 'sojourn.db'}"
    database_pool_size: int = Field(default=20, ge=1)  # connections per process (PostgreSQL)
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0)  # wait for a free one, then 503
    api_access_log: bool = False  # a log line per request: costly at ingestion rates

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "sojourn-journeys"
    # Journeys a worker keeps in memory between their steps (Temporal's sticky cache).
    # A journey not cached replays its history when it next wakes: CPU instead of
    # memory. Its memory is bounded by this, not by how many journeys wait
    # (bench/worker_memory.py; the README's figures chose the default).
    workflow_cache_size: int = Field(default=WORKFLOW_CACHE_SIZE, ge=0)

    # Ingestion: Segment-style write keys, sent as the Basic-auth username (or, as
    # analytics.js does, as `writeKey` in the body).
    write_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The shop's backend: Basic auth like a write key, with every right (linking ids,
    # setting emails, acting for any customer). Never put one in a page.
    server_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Signs customer tokens: the shop's backend gives the signed-in shopper's page
    # Signs customer tokens (sojourn/ground/signing.py: customer_token), with which her
    # browser proves who she is: v1.<expires>.<hex HMAC-SHA256(secret, "v1.<expires>.<user id>")>.
    identity_secret: str | None = None
    # Encrypts what Temporal keeps (sojourn/ground/codec.py): "id:base64 32-byte key,...",
    # the first encrypts, all decrypt. Empty: payloads are plain JSON, as before.
    payload_keys: str = ""
    # The Temporal UI's origins, which may call the codec endpoint with an operator's sign-in.
    temporal_ui_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"])
    # What one client address may do with the public write key, per route: claim anonymous
    # tokens and spin wheels (the `limits` library's notation; api/limits.py).
    browser_rate_limit: str = "20/minute;200/hour"
    # Where the counts live: "memory://" counts per API process; "redis://host:6379" shares them.
    rate_limit_storage: str = "memory://"
    # Proxies whose X-Forwarded-For names the client (behind a load balancer); no one's by default.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Her newest browsers that get her pushes; subscribing another drops the oldest.
    push_subscriptions_per_customer: int = Field(default=10, ge=1)
    # A token valid for longer than this from now is refused: an expiry far away is none.
    customer_token_max_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # The first format (hex HMAC of the user id alone, never expiring), while a shop moves off it.
    legacy_customer_tokens: bool = False
    # Shop origins whose pages may call the API from a browser (CORS), e.g.
    # "https://shop.example,https://www.shop.example". Empty: store_url's origin.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The router (sojourn/pipeline): runs inside `sojourn api` unless `router` is off
    # (then run `sojourn router` on its own). Replicas share the work through the database.
    router: bool = True
    router_loops: int = Field(default=4, ge=1)  # rounds in flight per process
    router_batch: int = Field(default=100, ge=1)  # events leased per round
    router_concurrency: int = Field(default=32, ge=1)  # customers routed at once, over all rounds
    # Each run's step and next wake-up as search attributes (JourneyStep, JourneyWakeUp),
    # upserted at every wait: a Temporal list filter ("who waits at step X") for one
    # billable action per wait (README, "What a journey costs on the engine"). Off, the
    # step and wake-up are in each run's current details and `state` query, which cost
    # no action; her page asks her running runs (api/routes/customers.py).
    searchable_steps: bool = False
    # How often the Temporal Schedule sweeps timed segments ("no order in 60 days").
    segment_sweep_seconds: float = Field(default=3600.0, ge=1)
    router_poll_seconds: float = Field(default=0.5, gt=0)  # idle poll, for events another process stored
    router_linger_seconds: float = Field(default=0.01, ge=0)  # after a wake, gather a burst into one round
    router_lease_seconds: float = Field(default=60.0, gt=0)  # a crashed router's events are free after this
    # A poison event (fails for a reason other than Temporal being down) is retried
    # with backoff (route_retry_seconds x 4^n), then parked dead for an operator.
    route_max_attempts: int = Field(default=5, ge=1)
    route_retry_seconds: float = Field(default=2.0, ge=0)
    # Operators (journey listing, cancel, stats): Bearer tokens, separate from write keys.
    operator_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Marketers (content, stats and the dashboard; never the pipeline nor a profile): Bearer
    # tokens, or the dashboard's password. An operator key may do what a marketer does.
    marketer_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # May a marketer open a customer's page (her profile, journeys, interests)? Off: only
    # operators, and a marketer sees a customer only as a content preview's sample.
    marketer_sees_customers: bool = False
    # A marketer's test sends, per client address, in the `limits` library's notation.
    content_test_rate_limit: str = "10/minute;100/day"
    # Signs tokens in links. Empty: generated once and kept in the database.
    secret_key: str | None = None

    # Email
    smtp_host: str | None = None
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = 30.0
    smtp_pool_size: int = Field(default=4, ge=1)  # connections kept open per worker
    email_from: str = "Sojourn <journeys@localhost>"

    # Web push. Empty keys mean "generate once and keep them in the database".
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:journeys@localhost"
    push_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PUSH_HOSTS)
    )
    push_ttl_seconds: int = 24 * 3600

    # Webhook channel: named destinations ("ads=https://...,sms=https://..."), the
    # HMAC-SHA256 signing secret, and the hosts the worker may POST to.
    webhooks: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    webhook_secret: str | None = None
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Ad audiences (sojourn/audiences/members.py): where each is synced, as JSON, e.g.
    # {"meta": {"type": "meta", "url": "https://graph.facebook.com/v21.0", "token": "...",
    #           "audiences": {"cart_abandoners": "<custom audience id>"}}}
    audience_destinations: dict[str, AudienceDestination] = Field(default_factory=dict)
    audience_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["graph.facebook.com", "googleads.googleapis.com"])
    audience_sync_seconds: int = Field(default=300, ge=10)
    # The EU's consent rules apply (GDPR, the DMA's consent mode for Google): an ad
    # platform is told only about a customer who granted both ad signals
    # (sojourn/identity/consent.py). Off: everyone who has not declined, with what she
    # chose, or UNSPECIFIED where she chose nothing.
    eu_consent: bool = True
    # An event whose timestamp is older than this when it arrives is the shop's past: it
    # updates facts, segments and the catalog, and starts and wakes no journey (so a
    # backfill of last year's orders mails nobody). POST /v1/import treats every event so.
    entry_window_seconds: int = Field(default=3600, ge=60)
    # Double opt-in: marketing email consent given from a browser (the wheel's box) is
    # pending until she clicks the signed link in the confirmation email, as EU shops
    # need; the shop's backend vouches for its own forms (sojourn/identity/consent.py).
    double_opt_in: bool = True
    # How long a confirmation link works.
    confirmation_link_days: int = Field(default=7, ge=1, le=90)
    # Outbound HTTP (push, webhooks) may reach loopback addresses: for local development
    # only. Private and reserved ranges are always refused (sojourn/ground/allowlist.py).
    outbound_allow_loopback: bool = False

    # A 1x1 image in each email, recording "Email Opened" (machine opens flagged, never
    # counted as engagement: sojourn/intelligence/engagement.py). Off by default.
    email_open_pixel: bool = False

    # Where links in messages point (the storefront).
    store_url: str = "http://localhost:3000"
    # Where this API is reachable from a mail client or browser (unsubscribe links).
    public_url: str = "http://127.0.0.1:8000"
    # Hosts whose links in templates become tracked redirects; empty: the store's and
    # public_url's hosts. Links to other hosts, and URLs from data, are left as they are.
    tracked_link_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How often each on-site placement may be shown to one customer ("greeting_bar=3/24h";
    # "*" for any other placement). Counted from sojourn.js's impressions.
    onsite_frequency: str = "*=5/24h"
    # Marketing sends per customer per channel per rolling window ("email=3/24h,push=3/24h").
    # Transactional sends are exempt. Empty disables.
    frequency_caps: str = "email=3/24h,push=3/24h"
    # What a retry does when the previous attempt crashed past the point of no return
    # (SMTP DATA sent, the push or webhook POST sent) and nobody knows whether it went
    # out: at-most-once records `unknown` and does not resend; at-least-once resends
    # (email with the same Message-ID, webhooks with the same Idempotency-Key).
    # Per topic; a topic not named here is at-most-once.
    delivery_guarantees: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"marketing": "at-most-once", "transactional": "at-least-once"})

    # Journeys. Copied into each journey's input at start, so replays see the same.
    # A journey's declared parameters, by journey and parameter name; a name that no
    # registered journey declares stops start-up (sojourn/ground/spec.py: journey_params).
    journeys: dict[str, dict[str, Any]] = Field(default_factory=dict)
    default_timezone: str = "UTC"  # when the profile has no `timezone` trait
    quiet_hours: str | None = None  # e.g. "21:00-08:00", local time: marketing sends wait
    loyalty_signup_path: str = "/loyalty"
    referral_delay_days: int = 3
    referral_incentive: str = "10% off for you and a friend"
    first_order_offer: str = "15% off your first order"
    first_order_coupon_days: int = Field(default=14, ge=1)
    # Recommendations: refreshed by a Temporal Schedule this often; never these products.
    recommend_refresh_seconds: int = Field(default=3600, ge=60)
    # Her likelihood to buy (sojourn/intelligence/likelihood.py): orders within this many
    # days; retrained on this schedule.
    likelihood_days: int = Field(default=14, ge=1, le=180)
    likelihood_refresh_seconds: int = Field(default=86400, ge=60)
    recommend_exclude: Annotated[list[str], NoDecode] = Field(default_factory=list)
    lead_wheel: str = "first_order"  # the lead-capture journey's wheel (templates/wheels/)
    registration_path: str = "/register"  # the registration page's A/B test enters there
    home_path: str = "/"  # the home page, where the stories are (home_stories enters there)
    order_success_path: str = "/checkout/success"  # the app banner's A/B test enters there
    app_download_url: str = "https://apps.apple.com/app/beauty-shop/id000000000"  # or a smart link

    # Demo clock: every journey delay is divided by this. Passed into the workflow at
    # start, so a replay sees the same value the run saw.
    time_scale: float = Field(default=1.0, gt=0)

    # Dev stack (make dev)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_ui_port: int = 8233
    push_inbox_port: int = 8026  # the local push inbox (sojourn/devtools/pushinbox.py)
    demo_shop_port: int = 3000
    # The worker's Prometheus endpoint (the Temporal SDK's metrics and the sends); "" disables.
    # Loopback unless configured: the endpoint has no authentication, and a worker's
    # host is rarely meant to be reachable (docker-compose.yml opens it to Prometheus).
    worker_metrics_address: str = "127.0.0.1:9464"
    var_dir: Path = ROOT / "var"
    templates_dir: Path = ROOT / "templates"

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet_window(cls, value: object) -> object:
        if value in ("", None):
            return None
        from datetime import time

        start, sep, end = str(value).partition("-")
        try:
            time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError("quiet_hours must look like 21:00-08:00")
        return value

    @field_validator("webhooks", mode="before")
    @classmethod
    def _named_urls(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.partition("=") for part in _commas(value)]
            if any(not name or not url for name, _, url in pairs):
                raise ValueError("webhooks must look like name=https://host/path,other=https://...")
            return {name.strip(): url.strip() for name, _, url in pairs}
        return value

    @field_validator("delivery_guarantees", mode="before")
    @classmethod
    def _guarantees(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.partition("=") for part in _commas(value)]
            value = {topic.strip(): rule.strip() for topic, _, rule in pairs}
        if isinstance(value, dict) and any(rule not in GUARANTEES for rule in value.values()):
            raise ValueError("delivery_guarantees must look like marketing=at-most-once,transactional=at-least-once")
        return value

    def guarantee(self, topic: str) -> str:
        return self.delivery_guarantees.get(topic, "at-most-once")

    @field_validator("write_keys", "server_keys", "operator_keys", "marketer_keys", "push_allowed_hosts", "webhook_allowed_hosts",
                     "tracked_link_hosts", "cors_origins", "recommend_exclude", "audience_allowed_hosts", "trusted_proxies",
                     "temporal_ui_origins",
                     mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("frequency_caps", "onsite_frequency")
    @classmethod
    def _caps(cls, value: str) -> str:
        parse_caps(value)
        return value

    @property
    def caps(self) -> dict[str, tuple[int, timedelta]]:
        return parse_caps(self.frequency_caps)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
                    or parts.query or parts.fragment or "*" in origin:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path, no wildcard)")
        return [origin.rstrip("/") for origin in value]

    @property
    def browser_origins(self) -> list[str]:
        """Origins allowed to call the API from a shop's pages."""
        if self.cors_origins:
            return self.cors_origins
        store = urlsplit(self.store_url)
        return [f"{store.scheme}://{store.netloc}"] if store.scheme and store.netloc else []

    @property
    def tracked_hosts(self) -> list[str]:
        if self.tracked_link_hosts:
            return self.tracked_link_hosts
        return [host for url in (self.store_url, self.public_url) if (host := urlsplit(url).hostname)]

    @property
    def smtp_target(self) -> tuple[str, int]:
        """Where mail goes: the configured server, or the dev catcher on localhost."""
        return (self.smtp_host or "127.0.0.1", self.smtp_port)


@lru_cache
def get_settings() -> Settings:
    return Settings()
