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

**A key per case.** Given the process's case keys (``CaseKeySource``: ``infra/case_keys.py``) and a
serialization context that names a workflow of a case (``domain.case_ids.case_of_workflow``: the
case, its delivery child, its portal push, its bad rating's follow-up), a payload is encrypted under
that case's own data key instead, with ``encryption-key-id: case/<application_id>``, and bound to
the namespace and workflow id as AES-GCM associated data; both are carried in the metadata
(``encryption-namespace``, ``encryption-workflow-id``) so that a decoder without a context (the
codec endpoint, which knows the namespace only) can check the tag. A decoder with a context refuses
a payload bound to another workflow, and one that was moved and relabelled does not decrypt. Once
the case is erased its key is gone and its payloads decode to ``{"erased": true, "application_id":
…, "erased_at": …, "erased_by": …}``. Without case keys (the replay tests, a tool with no service
database) every payload is encrypted under the master key as before, and a case key's payload cannot
be decoded (``UnknownCodecKey``).

Never import this module at the top of a module that workflow code imports: ``cryptography``
breaks the workflow sandbox (``infra.temporal.data_converter`` imports it lazily).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from domain.case_ids import case_of_workflow

ENCODING = b"binary/encrypted"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
METADATA_NAMESPACE = "encryption-namespace"
METADATA_WORKFLOW_ID = "encryption-workflow-id"
CASE_KEY_PREFIX = "case/"
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


class CaseErased(Exception):
    """The case's data key was destroyed (``service/erasure.py``): nothing is encrypted under it again."""


@dataclass(frozen=True)
class Erasure:
    """When and by whom a case was erased: what its payloads decode to from then on."""

    application_id: str
    erased_at: datetime
    erased_by: str

    def marker(self) -> dict[str, object]:
        return {
            "erased": True,
            "application_id": self.application_id,
            "erased_at": self.erased_at.isoformat(),
            "erased_by": self.erased_by,
        }


class CaseKeySource(Protocol):
    """The cases' data keys of a process (``infra.case_keys.CaseKeyring``)."""

    async def encrypting(self, application_id: str) -> AESGCM:
        """The case's key, made on first use; ``CaseErased`` once it is erased."""
        ...

    async def decrypting(self, application_id: str) -> AESGCM | Erasure:
        """The case's key, or its erasure; ``UnknownCodecKey`` when the case has no key."""
        ...

    async def new_case(self, application_id: str) -> None:
        """At intake, before the start is encoded: the case's key made in one write where it has
        none (read back where it has one), and kept for the start's encryption."""
        ...


def case_key_id(application_id: str) -> str:
    return f"{CASE_KEY_PREFIX}{application_id}"


def cases_of_payloads(payloads: Iterable[Payload]) -> list[str]:
    """The cases whose keys these payloads are encrypted under (sorted, each once): what a decode of
    them opens. Payloads under the master key, or in the clear, name none."""
    found: set[str] = set()
    for payload in payloads:
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            continue
        key_id = payload.metadata.get(METADATA_KEY_ID, b"").decode("utf-8", errors="replace")
        if key_id.startswith(CASE_KEY_PREFIX) and len(key_id) > len(CASE_KEY_PREFIX):
            found.add(key_id.removeprefix(CASE_KEY_PREFIX))
    return sorted(found)


def _associated_data(key_id: str, namespace: str, workflow_id: str) -> bytes:
    # Length-prefixed, so no two different triples give the same bytes.
    parts = [p.encode("utf-8") for p in ("ods-codec-v2", key_id, namespace, workflow_id)]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _context_target(context: SerializationContext | None) -> tuple[str, str] | None:
    """The namespace and workflow id a context names; None when it names no workflow."""
    if isinstance(context, WorkflowSerializationContext) and context.workflow_id:
        return context.namespace, context.workflow_id
    if isinstance(context, ActivitySerializationContext) and context.workflow_id:
        return context.namespace, context.workflow_id
    return None


def _erased_payload(erasure: Erasure) -> Payload:
    return Payload(
        metadata={METADATA_ENCODING: b"json/plain"},
        data=json.dumps(erasure.marker(), separators=(",", ":")).encode(),
    )


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


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM with a random 96-bit nonce per payload; the first key encrypts, all decrypt; a
    case's payloads under the case's own key when ``case_keys`` is given (the module's docstring)."""

    def __init__(self, keys: Sequence[CodecKey], case_keys: CaseKeySource | None = None) -> None:
        super().__init__()
        if not keys:
            raise CodecKeyError(f"{ENV_NAME} is empty: give at least one key as id:base64(32 bytes)")
        self._encrypting = keys[0].key_id
        self._ciphers = {k.key_id: AESGCM(k.key) for k in keys}
        self._case_keys = case_keys
        # What the payloads at hand belong to (with_context); None: no workflow named.
        self._namespace: str | None = None
        self._workflow_id: str | None = None

    @classmethod
    def from_text(cls, text: str, case_keys: CaseKeySource | None = None) -> EncryptionCodec:
        """The codec of an ``ODS_CODEC_KEYS`` value (``CodecKeyError`` when it is unusable)."""
        return cls(parse_codec_keys(text), case_keys)

    def with_context(self, context: SerializationContext) -> Self:
        target = _context_target(context)
        if target is None:
            return self
        return self._bound(*target)

    def for_namespace(self, namespace: str | None) -> Self:
        """A copy that refuses a case's payload bound to another namespace (the codec endpoint's
        ``X-Namespace``: it knows no workflow id)."""
        return self._bound(namespace, None) if namespace else self

    def _bound(self, namespace: str | None, workflow_id: str | None) -> Self:
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._namespace, bound._workflow_id = namespace, workflow_id
        return bound

    @property
    def encrypting_key_id(self) -> str:
        return self._encrypting

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        case = None if self._workflow_id is None else case_of_workflow(self._workflow_id)
        if case is not None and self._case_keys is not None and self._namespace is not None:
            return await self._encode_for_case(case, self._namespace, self._workflow_id or "", payloads)
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

    async def _encode_for_case(
        self, application_id: str, namespace: str, workflow_id: str, payloads: Sequence[Payload]
    ) -> list[Payload]:
        assert self._case_keys is not None
        cipher = await self._case_keys.encrypting(application_id)
        key_id = case_key_id(application_id)
        aad = _associated_data(key_id, namespace, workflow_id)
        metadata = {
            METADATA_ENCODING: ENCODING,
            METADATA_KEY_ID: key_id.encode(),
            METADATA_NAMESPACE: namespace.encode(),
            METADATA_WORKFLOW_ID: workflow_id.encode(),
        }
        encoded: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            encoded.append(
                Payload(
                    metadata=metadata, data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), aad)
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
            if key_id.startswith(CASE_KEY_PREFIX):
                decoded.append(await self._decode_for_case(key_id, payload))
                continue
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise UnknownCodecKey(key_id, self.key_ids)
            decoded.append(Payload.FromString(_open(cipher, key_id, payload.data, None)))
        return decoded

    async def _decode_for_case(self, key_id: str, payload: Payload) -> Payload:
        namespace = payload.metadata.get(METADATA_NAMESPACE, b"").decode("utf-8", errors="replace")
        workflow_id = payload.metadata.get(METADATA_WORKFLOW_ID, b"").decode("utf-8", errors="replace")
        if (self._namespace is not None and namespace != self._namespace) or (
            self._workflow_id is not None and workflow_id != self._workflow_id
        ):
            raise PayloadDecryptionError(
                f"payload under key id {key_id!r} belongs to another workflow or namespace than the one "
                "it is read for: it was moved, and is refused"
            )
        if self._case_keys is None:
            raise UnknownCodecKey(
                key_id, [*self.key_ids, "(case keys: none, this process has no service database)"]
            )
        found = await self._case_keys.decrypting(key_id.removeprefix(CASE_KEY_PREFIX))
        if isinstance(found, Erasure):
            return _erased_payload(found)
        return Payload.FromString(
            _open(found, key_id, payload.data, _associated_data(key_id, namespace, workflow_id))
        )


def _open(cipher: AESGCM, key_id: str, data: bytes, aad: bytes | None) -> bytes:
    try:
        if len(data) < NONCE_BYTES + 16:  # a nonce and the GCM tag at the least
            raise InvalidTag
        return cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
    except InvalidTag:
        raise PayloadDecryptionError(
            f"payload under key id {key_id!r} does not decrypt: the key of that id is not the one it was "
            "encrypted with, or the payload was altered or moved to another workflow"
        ) from None
