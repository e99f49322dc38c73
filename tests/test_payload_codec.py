"""#26.11: her data is encrypted in Temporal. With SOJOURN_PAYLOAD_KEYS set, what the
server keeps of Lisa's journey (her profile, her cart, the sends) is AES-GCM ciphertext:
`sojourn temporal workflow show` prints no email and no first name. An operator reads
the payloads through the codec endpoint with the operator key; keys rotate; every
history recorded before the codec still replays."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from sojourn.ground.codec import ENCODING, CodecKeyError, EncryptionCodec, parse_keys
from sojourn.ground.settings import Settings
from sojourn.ground.temporal import data_converter
from tests.conftest import OPERATOR_KEY, open_api
from tests.support.journeys import TEST_JOURNEYS
from tests.support.smtp import Inbox
from tests.test_cart_abandonment import LIPSTICK, journey
from tests.test_replay import HISTORIES, load
from worker import build_worker, sandbox_runner
from workflows.registry import JOURNEYS

OLD, NEW = base64.b64encode(b"o" * 32).decode(), base64.b64encode(b"n" * 32).decode()


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_payloads_are_sealed_and_keys_rotate() -> None:
    old = EncryptionCodec(parse_keys(f"k1:{OLD}"))
    rotated = EncryptionCodec(parse_keys(f"k2:{NEW},k1:{OLD}"))
    [sealed] = await old.encode([payload("lisa@example.com")])
    assert sealed.metadata["encoding"] == ENCODING and b"lisa" not in sealed.data
    assert (await rotated.decode([sealed]))[0].data == b'"lisa@example.com"', "an old key still reads"
    [resealed] = await rotated.encode([payload("x")])
    assert resealed.metadata["encryption-key-id"] == b"k2", "the first key encrypts"
    plain = payload("written before the codec")
    assert await rotated.decode([plain]) == [plain], "an unencrypted payload is read as it is"
    with pytest.raises(CodecKeyError):
        await EncryptionCodec(parse_keys(f"k3:{NEW}")).decode([sealed])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses a changed byte
        await old.decode([tampered])
    for bad in ("k1", "k1:not-base64!", f"k1:{base64.b64encode(b'short').decode()}", f"k1:{OLD},k1:{NEW}"):
        with pytest.raises(CodecKeyError):
            parse_keys(bad)


@pytest.mark.parametrize("path", HISTORIES[:6], ids=[p.stem for p in HISTORIES[:6]])
async def test_histories_recorded_before_the_codec_replay_with_it(path: Path) -> None:
    settings = Settings(payload_keys=f"k1:{OLD}")
    replayer = Replayer(workflows=[*JOURNEYS, *TEST_JOURNEYS], workflow_runner=sandbox_runner(),
                        data_converter=data_converter(settings))
    await replayer.replay_workflow(load(path))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _decoded(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except ValueError:
        return ""


def sojourn_temporal(address: str, *args: str) -> str:
    """`sojourn temporal ...`, the CLI the README tells operators to use."""
    done = subprocess.run([str(Path(sys.executable).parent / "sojourn"), "temporal", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "SOJOURN_TEMPORAL_ADDRESS": address})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("keys", ["", f"k2:{NEW},k1:{OLD}"], ids=["no keys", "keys"])
async def test_lisas_journey_in_temporal_holds_no_email_or_first_name(
        env: WorkflowEnvironment, settings: Settings, sessions: Any, inbox: Inbox, customer_id: str,
        keys: str) -> None:
    """With no keys (the default), because her address and name never enter a workflow
    (her profile reaches it without them: sojourn/ground/addresses.py); with keys, also
    because every payload is sealed."""
    sealed = settings.model_copy(update={"payload_keys": keys})
    client = Client(env.client.service_client, namespace=env.client.namespace, data_converter=data_converter(sealed))
    email, name = f"{customer_id}@mail.test", "Lisabeth"
    async with build_worker(client, sealed, sessions), open_api(sealed, client) as api:
        await api.post("/v1/identify", {"userId": customer_id, "traits": {
            "email": email, "firstName": name, "work": f"Lisabeth <{customer_id}@work.test>", "skin_type": "dry"}})
        await api.track(customer_id, "Product Added", LIPSTICK)
        handle = journey(api, customer_id)
        await env.fast_forward(handle, timedelta(days=1, minutes=1))
        [mail] = inbox.to(customer_id)
        assert name in mail["Subject"], "she got her email, by her name"
        state = await handle.query("state")  # the client decodes what it reads
        assert state["sends"]["email_same_day"] == "sent"

        address = env.client.service_client.config.target_host
        shown = await asyncio.to_thread(sojourn_temporal, address, "workflow", "show", "-w", handle.id,
                                        "--output", "json")
        assert "ACTIVITY_TASK_COMPLETED" in shown.upper().replace("ACTIVITYTASKCOMPLETED", "ACTIVITY_TASK_COMPLETED")
        # The CLI prints payloads base64-encoded: look inside every one.
        inside = shown + "".join(_decoded(value) for value in _strings(json.loads(shown)))
        for secret in (email, name, f"{customer_id}@work.test"):
            assert secret not in inside, f"{secret} is in the history as Temporal keeps it"
        if not keys:
            assert "dry" in inside, "a journey still decides by her other traits"
            return

        # An operator reads her profile through the codec endpoint, with the operator key.
        raw = Client(env.client.service_client, namespace=env.client.namespace)
        history = await raw.get_workflow_handle(handle.id).fetch_history()
        # Her profile is in the run's start input (the router hands it over), and what
        # the activities answered.
        results = [*history.events[0].workflow_execution_started_event_attributes.input.payloads,
                   *(e.activity_task_completed_event_attributes.result.payloads[0] for e in history.events
                     if e.HasField("activity_task_completed_event_attributes")
                     and e.activity_task_completed_event_attributes.result.payloads)]
        body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                              "data": base64.b64encode(p.data).decode()} for p in results]}
        refused = await api.http.post("/v1/temporal/codec/decode", json=body)
        assert refused.status_code == 401
        decoded = await api.http.post("/v1/temporal/codec/decode", json=body,
                                      headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
        assert decoded.status_code == 200, decoded.text
        texts = [base64.b64decode(p.get("data", "")).decode() for p in decoded.json()["payloads"]]
        assert any(customer_id in t and "skin_type" in t for t in texts), "her profile, for the operator"
        preflight = await api.http.options("/v1/temporal/codec/decode", headers={
            "Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace"})
        assert preflight.headers.get("access-control-allow-origin") == "http://localhost:8233"
        assert preflight.headers.get("access-control-allow-credentials") == "true"
