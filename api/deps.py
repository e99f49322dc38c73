"""Annotated dependencies shared by the routers.

All are `async def`, though none awaits: FastAPI runs a plain `def` dependency in
a worker thread, a thread hop per dependency per request on the ingestion path."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.calls import BadRequest, parse_json, unstorable
from sojourn.content.store import ContentStore
from sojourn.ground.settings import Settings
from sojourn.ground.signing import Signer, load_signer
from sojourn.ground.vapid import VapidKeys, load_vapid_keys
from sojourn.pipeline.router import Router
from sojourn.pipeline.store import Store
from workflows.kit.journey import Journey


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessions


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_router(request: Request) -> Router:
    return request.app.state.router


async def get_content(request: Request) -> ContentStore:
    return request.app.state.content


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ContentDep = Annotated[ContentStore, Depends(get_content)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
StoreDep = Annotated[Store, Depends(get_store)]
RouterDep = Annotated[Router, Depends(get_router)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": 'Basic realm="sojourn"'}
    )


MISSING_WRITE_KEY = "missing write key: use HTTP Basic auth with the write key as the username"


def one_of(key: str, keys: Iterable[str]) -> bool:
    """Compared with every key in constant time, so timing doesn't reveal prefixes."""
    return any([hmac.compare_digest(key.encode(), known.encode()) for known in keys])


def valid_write_key(key: object, settings: Settings) -> str:
    """The key, if it is one of the write keys; else 401."""
    if not isinstance(key, str):
        raise _unauthorized(MISSING_WRITE_KEY)
    if not one_of(key, (*settings.write_keys, *settings.server_keys)):
        raise _unauthorized("invalid write key")
    return key


def _basic_username(request: Request) -> str | None:
    """The Basic-auth username; None without an Authorization header; 401 if malformed."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        raise _unauthorized(MISSING_WRITE_KEY)
    try:
        return base64.b64decode(credentials, validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("malformed Basic credentials") from None


async def require_write_key(request: Request, settings: SettingsDep) -> str:
    """Segment-style auth: HTTP Basic with the source's write key as the username."""
    return valid_write_key(_basic_username(request), settings)


WriteKey = Annotated[str, Depends(require_write_key)]


async def header_write_key(request: Request, settings: SettingsDep) -> str | None:
    """Ingestion: the Basic-auth write key if the call has one (checked), else None,
    and the route takes `writeKey` from the body, as Segment's HTTP API allows and
    analytics.js's beacon and batch calls do."""
    username = _basic_username(request)
    return None if username is None else valid_write_key(username, settings)


HeaderWriteKey = Annotated[str | None, Depends(header_write_key)]


async def require_operator_key(request: Request, settings: SettingsDep) -> str:
    """Operator endpoints: `Authorization: Bearer <operator key>`, never a write key
    (write keys ship inside storefronts)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing operator key: use Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    if not one_of(token, settings.operator_keys):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid operator key", headers={"WWW-Authenticate": "Bearer"})
    return token


OperatorKey = Annotated[str, Depends(require_operator_key)]


DASHBOARD_HEADER = "X-Sojourn-Dashboard"


async def require_marketer_key(request: Request, settings: SettingsDep) -> str:
    """Content and stats: `Authorization: Bearer <marketer key>` (or an operator's, who
    may do what a marketer does). Returns the role, recorded as who changed content.

    The dashboard's editor calls the same routes under /dashboard/content with the
    browser's sign-in (Basic), which a browser also attaches to a request another site makes:
    so a Basic call must carry `X-Sojourn-Dashboard`, a header no other site's page can
    set without a CORS preflight, which these routes never grant."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not scheme and request.url.path.startswith("/dashboard/"):
        # The browser answers this challenge with the dashboard's sign-in.
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in with a marketer or operator key (as the password)",
                            headers=SIGN_IN)
    if scheme.lower() == "basic" and request.url.path.startswith("/dashboard/"):
        if not request.headers.get(DASHBOARD_HEADER):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the dashboard's calls carry {DASHBOARD_HEADER}")
        return await require_sign_in(request, settings)
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing marketer key: use Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    return _role_of(token, settings, "invalid marketer key", {"WWW-Authenticate": "Bearer"})


def _role_of(key: str, settings: Settings, refusal: str, headers: dict[str, str]) -> str:
    if key and one_of(key, settings.marketer_keys):
        return "marketer"
    if key and one_of(key, settings.operator_keys):
        return "operator"
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, refusal, headers=headers)


MarketerKey = Annotated[str, Depends(require_marketer_key)]


async def require_customer_reader(request: Request, settings: SettingsDep) -> str:
    """A customer's page: an operator, or a marketer where the shop allows it
    (`SOJOURN_MARKETER_SEES_CUSTOMERS`); the dashboard's sign-in works too."""
    role = await require_marketer_key(request, settings) if request.headers.get("authorization", "").lower() \
        .startswith("bearer") else await require_sign_in(request, settings)
    if role == "marketer" and not settings.marketer_sees_customers:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a marketer sees a customer's page only where the shop "
                                                       "allows it (SOJOURN_MARKETER_SEES_CUSTOMERS)")
    return role


CustomerReader = Annotated[str, Depends(require_customer_reader)]


SIGN_IN = {"WWW-Authenticate": 'Basic realm="Sojourn dashboard", charset="UTF-8"'}


def _signed_in_key(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = ""
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        key = password or user
    elif scheme.lower() == "bearer":
        key = token
    return key


async def require_sign_in(request: Request, settings: SettingsDep) -> str:
    """The dashboard, in a browser: HTTP Basic with a marketer's or an operator's key
    as the password (any user name), so the browser asks for it and keeps it for the
    session; a Bearer key works too. Never a write key. Returns the role."""
    return _role_of(_signed_in_key(request), settings, "sign in with a marketer or operator key (as the password)",
                    SIGN_IN)


async def require_operator_sign_in(request: Request, settings: SettingsDep) -> str:
    """The same sign-in, for operators only (the codec endpoint: it decodes what
    customers' journeys carry). A marketer's key is refused (403)."""
    if await require_sign_in(request, settings) != "operator":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "operators only: a marketer key can't decode journeys' payloads")
    return "operator"


SignIn = Annotated[str, Depends(require_sign_in)]
OperatorSignIn = Annotated[str, Depends(require_operator_sign_in)]


async def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


TemporalDep = Annotated[Client, Depends(get_temporal)]


async def get_journeys(request: Request) -> tuple[type[Journey], ...]:
    """The journeys this app routes to: the registry's, or a test's own."""
    return request.app.state.journeys


JourneysDep = Annotated[tuple[type[Journey], ...], Depends(get_journeys)]


async def get_vapid_keys(request: Request) -> VapidKeys:
    if getattr(request.app.state, "vapid_keys", None) is None:
        request.app.state.vapid_keys = await load_vapid_keys(request.app.state.sessions, request.app.state.settings)
    return request.app.state.vapid_keys


VapidDep = Annotated[VapidKeys, Depends(get_vapid_keys)]


async def get_signer(request: Request) -> Signer:
    if getattr(request.app.state, "signer", None) is None:
        request.app.state.signer = await load_signer(request.app.state.sessions, request.app.state.settings)
    return request.app.state.signer


SignerDep = Annotated[Signer, Depends(get_signer)]


# Escapes that decode to what no column can hold: \u0000, and \ud800-\udfff (a lone
# surrogate once decoded; a pair is checked too, and passes, in parse_json).
_ESCAPED = (b"\\u0000", b"\\ud8", b"\\ud9", b"\\uda", b"\\udb", b"\\udc", b"\\udd", b"\\ude", b"\\udf")


async def storable_input(request: Request) -> None:
    """Every path parameter, query parameter and JSON body field free of NUL and lone
    surrogates (PostgreSQL refuses NUL in text; neither is UTF-8 text): a 400 naming
    the field, before anything reaches the database. Ingestion checks its own bodies
    (api/calls.py)."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and unstorable(value):
            raise BadRequest(f"{name} holds a NUL character or a lone surrogate")
    for name, value in request.query_params.multi_items():
        if unstorable(name) or unstorable(value):
            raise BadRequest(f"{name} holds a NUL character or a lone surrogate")
    if "json" not in request.headers.get("content-type", ""):
        return  # forms and CSV: their handlers validate each value (pools.parse_csv)
    raw = await request.body()  # FastAPI has read it already, under the body cap
    lowered = raw.lower()
    if b"\x00" in raw or any(escape in lowered for escape in _ESCAPED):
        parse_json(raw)  # names the field, or says the body is not JSON


StorableInput = Depends(storable_input)
