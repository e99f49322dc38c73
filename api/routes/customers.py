"""A customer: her browsers' web push subscriptions (PushSubscription.toJSON(), write
key), and everything known about her in one answer, her page (operator key; a
marketer's where SOJOURN_MARKETER_SEES_CUSTOMERS allows)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus

from api import live_steps
from api.calls import BadRequest
from api.deps import CustomerReader, SessionsDep, SettingsDep, SignerDep, TemporalDep
from api.proof import CallerDep, act_for
from sojourn.analytics import her_page as her_page_data
from sojourn.ground.allowlist import refuse_reason
from sojourn.ground.calls import anonymous_customer, anonymous_id_of
from sojourn.ground.db import upsert
from sojourn.ground.facts import as_columns, facts_of
from sojourn.ground.models import Consent, Customer, Identity, JourneyRun, PushSubscription, utcnow
from sojourn.ground.settings import Settings
from sojourn.ground.spec import CUSTOMER_ID, JOURNEY_STEP, JOURNEY_WAKE_UP
from sojourn.identity.linking import canonical
from sojourn.intelligence import likelihood
from workflows.segments import SEGMENTS

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(max_length=255)
    auth: str = Field(max_length=255)


class PushSubscriptionIn(BaseModel):
    endpoint: str = Field(max_length=2048)
    keys: SubscriptionKeys
    expirationTime: float | None = None


class PushSubscriptionOut(BaseModel):
    id: int
    customer_id: str
    endpoint: str


def _b64url(value: str, field: str, length: int) -> None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field} is not base64url") from None
    if len(raw) != length or (field == "keys.p256dh" and raw[0] != 4):
        raise BadRequest(f"{field} must decode to {length} bytes" + (" (an uncompressed P-256 point)" if length == 65 else ""))


@router.post("/{customer_id}/push-subscriptions", status_code=status.HTTP_201_CREATED)
async def add_push_subscription(
    customer_id: str, body: PushSubscriptionIn, request: Request, caller: CallerDep, sessions: SessionsDep,
    settings: SettingsDep, signer: SignerDep,
) -> PushSubscriptionOut:
    # Where her pushes go: only she (or the shop's backend) may say (api/proof.py).
    customer_id = await act_for(customer_id, caller, sessions, settings, signer)
    reason = refuse_reason(body.endpoint, settings.push_allowed_hosts, allow_loopback=settings.outbound_allow_loopback)
    if reason:
        raise BadRequest(f"endpoint {reason}")
    _b64url(body.keys.p256dh, "keys.p256dh", 65)
    _b64url(body.keys.auth, "keys.auth", 16)
    async with sessions() as session:
        await session.execute(
            upsert(session, Customer)
            .values(id=customer_id, traits={}, created_at=utcnow(), updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["id"])
        )
        # One endpoint is one browser: re-subscribing (even as another customer,
        # after a log-in) moves it rather than duplicating it.
        stmt = upsert(session, PushSubscription).values(
            customer_id=customer_id,
            endpoint=body.endpoint,
            p256dh=body.keys.p256dh,
            auth=body.keys.auth,
            user_agent=(request.headers.get("user-agent") or "")[:512] or None,
            created_at=utcnow(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["endpoint"],
            set_={k: stmt.excluded[k] for k in ("customer_id", "p256dh", "auth", "user_agent", "created_at")},
        ).returning(PushSubscription.id)
        sub_id = (await session.execute(stmt)).scalar_one()
        # Her newest N browsers (SOJOURN_PUSH_SUBSCRIPTIONS_PER_CUSTOMER): a script that
        # subscribes endless endpoints for her costs a send each no longer.
        older = select(PushSubscription.id).where(PushSubscription.customer_id == customer_id).order_by(
            PushSubscription.created_at.desc(), PushSubscription.id.desc()).offset(settings.push_subscriptions_per_customer)
        await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(older.scalar_subquery())))
        await session.commit()
    return PushSubscriptionOut(id=sub_id, customer_id=customer_id, endpoint=body.endpoint)


@router.delete("/{customer_id}/push-subscriptions", status_code=status.HTTP_204_NO_CONTENT)
async def remove_push_subscription(customer_id: str, endpoint: str, caller: CallerDep, sessions: SessionsDep,
                                   settings: SettingsDep, signer: SignerDep) -> None:
    customer_id = await act_for(customer_id, caller, sessions, settings, signer)
    async with sessions() as session:
        await session.execute(
            delete(PushSubscription).where(
                PushSubscription.customer_id == customer_id, PushSubscription.endpoint == endpoint
            )
        )
        await session.commit()


@router.get("")
async def find(email: Annotated[str, Query(min_length=3, max_length=320)], _role: CustomerReader,
               sessions: SessionsDep) -> dict[str, Any]:
    """Customers by email address (as typed, any case): their ids, for her page."""
    async with sessions() as session:
        return {"customers": await ids_by_email(session, email)}


async def ids_by_email(session: AsyncSession, email: str) -> list[str]:
    """The ids of the customers with this address, in any case (at most 20)."""
    return list((await session.scalars(select(Customer.id).where(
        func.lower(Customer.email) == email.strip().lower()).order_by(Customer.id).limit(20))).all())


@router.get("/{customer_id}")
async def customer(customer_id: str, _role: CustomerReader, sessions: SessionsDep, temporal: TemporalDep,
                   settings: SettingsDep) -> dict[str, Any]:
    """One customer in one answer: her page (the dashboard draws exactly this)."""
    return await her_page(customer_id, sessions, temporal, settings)


async def her_page(customer_id: str, sessions: async_sessionmaker[AsyncSession], temporal: Client,
                   settings: Settings) -> dict[str, Any]:
    """Profile, facts, the segments she is in, consents, browsers, her interests, best
    channel and hour, coupons, and every journey she is or was in: its step, why it
    waits, when it wakes next, and what she was sent and did with it. From the database
    (sojourn/analytics/her_page.py), plus one visibility call to Temporal for all her
    runs' steps. An anonymous id ("anonymous:<id>", or the bare id when no customer
    has it as her user id) answers with the visitor, or with the customer it was linked to."""
    now = utcnow()
    async with sessions() as session:
        found = await session.get(Customer, await canonical(session, customer_id))
        if found is None and anonymous_id_of(customer_id) is None:
            found = await session.get(Customer, await canonical(session, anonymous_customer(customer_id)))
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {customer_id!r}")
        customer_id = found.id
        linked = (await session.scalars(select(Identity.alias_id).where(Identity.customer_id == customer_id)
                                        .order_by(Identity.linked_at))).all()
        consents = (await session.scalars(select(Consent).where(Consent.customer_id == customer_id))).all()
        browsers = (await session.scalars(select(PushSubscription).where(PushSubscription.customer_id == customer_id)
                                          .order_by(PushSubscription.id))).all()
        runs = (await session.scalars(select(JourneyRun).where(JourneyRun.customer_id.in_([customer_id, *linked]))
                                      .order_by(JourneyRun.id))).all()
        sent = await her_page_data.sends(session, customer_id)
        interests = await her_page_data.interests(session, customer_id, now)
        best = await her_page_data.best(session, customer_id, now, found.timezone or settings.default_timezone)
        coupons = await her_page_data.coupons(session, customer_id)
        chance = await likelihood.hers(session, customer_id)
    facts = facts_of(found)
    live = await _steps(temporal, [customer_id, *linked])
    return {
        "id": found.id,
        "anonymous_id": found.anonymous_id,
        "known": found.known,
        "linked_ids": list(linked),
        "profile": {"email": found.email, "first_name": found.first_name, "timezone": found.timezone,
                    "traits": found.traits, "created_at": found.created_at, "updated_at": found.updated_at},
        "facts": as_columns(facts),
        "segments": [s.name for s in SEGMENTS if s.contains(facts, now)],
        "consents": [{"channel": c.channel, "topic": c.topic, "subscribed": c.subscribed, "source": c.source,
                      "updated_at": c.updated_at} for c in consents],
        "push_subscriptions": [{"id": b.id, "endpoint": b.endpoint} for b in browsers],
        "interests": interests,
        "best": best,
        "coupons": coupons,
        # Her chance of an order within the model's horizon, or why there is none.
        "likelihood": chance,
        # Her runs' steps as Temporal shows them now (None: Temporal could not be asked).
        "temporal": "answered" if live is not None else "unavailable",
        "journeys": [{"journey": r.journey, "journey_key": r.journey_key or None, "workflow_id": r.workflow_id,
                      "entry_message_id": r.entry_message_id, "started_at": r.started_at, "ended_at": r.ended_at,
                      **((live or {}).get(r.workflow_id) or {"status": None, "step": None, "wakes_at": None}),
                      "sends": sent.get(r.workflow_id, [])} for r in reversed(runs)],
    }


async def _steps(temporal: Client, ids: list[str]) -> dict[str, dict[str, Any]] | None:
    """Each of her runs' status, step and next wake-up: one visibility query for all of
    them. Where the shop keeps steps searchable (settings' searchable_steps) the step
    and wake-up come with it; otherwise each running run is asked (api/live_steps.py).
    Ids a query can't quote safely are left out."""
    quoted = [f'"{i}"' for i in ids if not any(c in i for c in "\"'\\\n\r")]
    if not quoted:
        return {}
    found: dict[str, dict[str, Any]] = {}
    try:
        async for wf in temporal.list_workflows(f"{CUSTOMER_ID.name} IN ({', '.join(quoted)})", limit=500):
            attrs = wf.typed_search_attributes
            wakes = attrs.get(JOURNEY_WAKE_UP)
            running = wf.status == WorkflowExecutionStatus.RUNNING
            found.setdefault(wf.id, {
                "status": wf.status.name.lower() if wf.status else None,
                "step": attrs.get(JOURNEY_STEP),
                "wakes_at": wakes.isoformat() if wakes is not None and running else None,
            })
    except Exception:  # noqa: BLE001 - Temporal down: her page still answers from the database
        return None
    unsearched = [wf_id for wf_id, run in found.items() if run["status"] == "running" and run["step"] is None]
    for workflow_id, live in (await live_steps.ask(temporal, unsearched)).items():
        found[workflow_id].update(live)
    return found
