"""Payload encryption: AES-256-GCM over every payload Temporal stores (``ODS_CODEC_KEYS``).

Citizens' ID numbers and phones travel in workflow inputs, activity arguments, results, query
answers and UI metadata; with this codec Temporal (its database, its Web UI, ``temporal workflow
show``) sees only ciphertext. Whoever holds a key reads them again through the gateway's codec
endpoints (``/codec/decode``) or a client with this codec.

An encrypted payload is a new payload whose ``data`` is ``nonce (12 bytes) + ciphertext and tag`` of
the whole original payload (metadata and data, serialised), with the metadata
``encoding: binary/encrypted`` and ``encryption-key-id: <id>`` — the shape of temporalio's
samples-python ``encryption/codec.py``. The first key of ``ODS_CODEC_KEYS`` encrypts; every key
decrypts, so a new key goes first and the old ones stay until no history needs them (rotation).
Payloads that are not encrypted (histories recorded before the codec) pass through decode as they
are.

Never import this module at the top of a module that workflow code imports: ``cryptography``
breaks the workflow sandbox (``infra.temporal.data_converter`` imports it lazily).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
ENV_NAME = "ODS_CODEC_KEYS"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class CodecKeyError(ValueError):
    """``ODS_CODEC_KEYS`` cannot be used; the message says which entry and why (never the key)."""


class UnknownCodecKey(ValueError):
    """A payload was encrypted under a key id that is not (any more) in ``ODS_CODEC_KEYS``."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        super().__init__(
            f"payload is encrypted with key id {key_id!r}, which is not in {ENV_NAME} "
            f"(known key ids: {', '.join(known)}); add that key back to decrypt it"
        )
        self.key_id = key_id


class PayloadDecryptionError(ValueError):
    """An encrypted payload that does not decrypt: the wrong key material under its id, or tampered."""


@dataclass(frozen=True)
class CodecKey:
    key_id: str
    key: bytes = field(repr=False)  # never the key material, in logs or tracebacks


def parse_codec_keys(text: str) -> list[CodecKey]:
    """``id:base64(32 bytes)`` entries, comma-separated, the encrypting key first."""
    keys: list[CodecKey] = []
    entries = [e.strip() for e in text.split(",")]
    if not any(entries):
        raise CodecKeyError(f"{ENV_NAME} is empty: give at least one key as id:base64(32 bytes)")
    for position, entry in enumerate(entries, start=1):
        if not entry:
            continue  # a trailing or doubled comma
        key_id, sep, material = (part.strip() for part in entry.partition(":"))
        if not sep or not material:
            raise CodecKeyError(
                f"{ENV_NAME} entry {position} is not id:base64(32 bytes) (no ':' between id and key)"
            )
        if not _KEY_ID.match(key_id):
            raise CodecKeyError(
                f"{ENV_NAME} entry {position}: key id {key_id[:64]!r} must be 1 to 64 of A-Z, a-z, 0-9, '.', "
                "'_' and '-'"
            )
        try:
            key = base64.b64decode(material, validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"{ENV_NAME}: the key of id {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise CodecKeyError(
                f"{ENV_NAME}: the key of id {key_id!r} is {len(key)} bytes; AES-256-GCM needs exactly "
                f"{KEY_BYTES} (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)"
            )
        if any(k.key_id == key_id for k in keys):
            raise CodecKeyError(f"{ENV_NAME}: key id {key_id!r} appears more than once")
        keys.append(CodecKey(key_id, key))
    return keys


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with a random 96-bit nonce per payload; the first key encrypts, all decrypt."""

    def __init__(self, keys: Sequence[CodecKey]) -> None:
        super().__init__()
        if not keys:
            raise CodecKeyError(f"{ENV_NAME} is empty: give at least one key as id:base64(32 bytes)")
        self._encrypting = keys[0].key_id
        self._ciphers = {k.key_id: AESGCM(k.key) for k in keys}

    @classmethod
    def from_text(cls, text: str) -> EncryptionCodec:
        """The codec of an ``ODS_CODEC_KEYS`` value (``CodecKeyError`` when it is unusable)."""
        return cls(parse_codec_keys(text))

    @property
    def encrypting_key_id(self) -> str:
        return self._encrypting

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._encrypting]
        key_id = self._encrypting.encode()
        encoded: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={METADATA_ENCODING: ENCODING, METADATA_KEY_ID: key_id},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded: list[Payload] = []
        for payload in payloads:
            if payload.metadata.get(METADATA_ENCODING) != ENCODING:
                decoded.append(payload)  # plaintext (recorded before the codec): as it is
                continue
            key_id = payload.metadata.get(METADATA_KEY_ID, b"").decode("utf-8", errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise UnknownCodecKey(key_id, self.key_ids)
            data = payload.data
            try:
                if len(data) < NONCE_BYTES + 16:  # a nonce and the GCM tag at the least
                    raise InvalidTag
                plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
            except InvalidTag:
                raise PayloadDecryptionError(
                    f"payload under key id {key_id!r} does not decrypt: the key of that id in {ENV_NAME} "
                    "is not the one it was encrypted with, or the payload was altered"
                ) from None
            decoded.append(Payload.FromString(plain))
        return decoded
