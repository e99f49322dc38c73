"""Her data encrypted in Temporal: a PayloadCodec (AES-256-GCM) that the client and
the worker share, so a workflow's inputs, results, signals, queries and activity
payloads reach the Temporal server, its history and its UI only as ciphertext.

Keys come from `SOJOURN_PAYLOAD_KEYS` as `id:base64-key` pairs, comma-separated; the
first encrypts, every one decrypts, so a key rotates by putting a new one first and
keeping the old until no history needs it. Each payload names its key id. A payload
written before the codec was turned on (no `binary/encrypted` encoding) is read as it
is: every recorded history still replays. Operators read decoded payloads in the
Temporal UI through the codec endpoint (api/routes/codec.py), with the operator key.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class CodecKeyError(ValueError):
    """SOJOURN_PAYLOAD_KEYS is malformed."""


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """`id:base64,id:base64` -> [(id, 32-byte key)], the encrypting one first."""
    keys = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, _, encoded = item.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"payload key {key_id!r} is not base64") from None
        if not key_id or len(key) != 32:
            raise CodecKeyError(f"payload key {key_id!r}: an id and a 32-byte (AES-256) key are needed")
        keys.append((key_id, key))
    if len({k for k, _ in keys}) != len(keys):
        raise CodecKeyError("payload key ids must differ")
    return keys


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise CodecKeyError("an encryption codec needs a key")
        self.current_id, current = keys[0]
        self.current = AESGCM(current)
        self.keys = {key_id: AESGCM(key) for key_id, key in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        found = []
        for p in payloads:
            nonce = os.urandom(12)
            sealed = self.current.encrypt(nonce, p.SerializeToString(), self.current_id.encode())
            found.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self.current_id.encode()},
                                 data=nonce + sealed))
        return found

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        found = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                found.append(p)  # written before the codec: read as it is
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode()
            key = self.keys.get(key_id)
            if key is None:
                raise CodecKeyError(f"no payload key {key_id!r} (SOJOURN_PAYLOAD_KEYS)")
            found.append(Payload.FromString(key.decrypt(p.data[:12], p.data[12:], key_id.encode())))
        return found


def codec_of(spec: str) -> EncryptionCodec | None:
    keys = parse_keys(spec)
    return EncryptionCodec(keys) if keys else None
