"""The cases' data keys of one process: made, wrapped, unwrapped, cached and erased.

Each case has a random 32-byte AES-256-GCM data key (``store/case_keys.py`` keeps it), wrapped by the
first master key of ``ODS_CODEC_KEYS`` with AES-GCM (the application id as associated data, so a
wrapped key cannot be given to another case). Every master key unwraps, so rotation works as for
payloads: a new master key goes first and wraps new cases' keys; the old one stays while a case's key
is wrapped by it. The payload codec (``infra/codec.py``) and the documents store (``store/documents.py``)
use the keys through this class.

Unwrapped keys are cached in the process for ``ttl_s`` (30 s by default): an erasure drops the entry
of the process that erases at once, and every other process (a worker, another gateway) stops using
the destroyed key within ``ttl_s``. Never import this module where workflow code imports it (it
loads ``cryptography``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.codec import (
    ENV_NAME,
    KEY_BYTES,
    NONCE_BYTES,
    CaseErased,
    CodecKey,
    Erasure,
    PayloadDecryptionError,
    UnknownCodecKey,
    case_key_id,
    parse_codec_keys,
)
from store.case_keys import CaseKeyRecord
from store.service import ServiceDatabase

DEFAULT_TTL_S = 30.0


def _wrap_aad(application_id: str) -> bytes:
    return f"ods case key v1/{application_id}".encode()


class CaseKeyring:
    """The data keys of every case, on the process's service database; safe to share between tasks."""

    def __init__(
        self, masters: Sequence[CodecKey], database: ServiceDatabase, *, ttl_s: float = DEFAULT_TTL_S
    ) -> None:
        if not masters:
            raise ValueError(f"{ENV_NAME} is empty")
        self._wrapping = masters[0]
        self._masters = {k.key_id: AESGCM(k.key) for k in masters}
        self._database = database
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, AESGCM | Erasure]] = {}
        self._making: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_text(
        cls, codec_keys: str, database: ServiceDatabase, *, ttl_s: float = DEFAULT_TTL_S
    ) -> CaseKeyring:
        return cls(parse_codec_keys(codec_keys), database, ttl_s=ttl_s)

    def forget(self, application_id: str) -> None:
        """Drop the cached key of the case (the erasing process, at once)."""
        self._cache.pop(application_id, None)

    def _cached(self, application_id: str) -> AESGCM | Erasure | None:
        entry = self._cache.get(application_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _keep(self, application_id: str, found: AESGCM | Erasure) -> AESGCM | Erasure:
        self._cache[application_id] = (time.monotonic() + self._ttl, found)
        return found

    def _unwrap(self, record: CaseKeyRecord) -> AESGCM | Erasure:
        if record.erased_at is not None:
            return Erasure(record.application_id, record.erased_at, record.erased_by or "")
        assert record.wrapped_key is not None and record.wrapped_by is not None
        master = self._masters.get(record.wrapped_by)
        if master is None:
            raise UnknownCodecKey(record.wrapped_by, list(self._masters))
        data = record.wrapped_key
        try:
            key = master.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _wrap_aad(record.application_id))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"the data key of case {record.application_id} does not unwrap with the key "
                f"{record.wrapped_by!r} of {ENV_NAME}"
            ) from None
        return AESGCM(key)

    async def decrypting(self, application_id: str) -> AESGCM | Erasure:
        found = self._cached(application_id)
        if found is not None:
            return found
        record = await (await self._database.case_keys()).get(application_id)
        if record is None:
            raise UnknownCodecKey(case_key_id(application_id), ["(no data key is stored for that case)"])
        return self._keep(application_id, self._unwrap(record))

    async def encrypting(self, application_id: str) -> AESGCM:
        found = self._cached(application_id)
        if found is None:
            # One new key per case per process at a time; across processes the table settles it.
            async with self._making.setdefault(application_id, asyncio.Lock()):
                found = self._cached(application_id)
                if found is None:
                    found = self._keep(application_id, await self._fetch_or_make(application_id))
            self._making.pop(application_id, None)
        if isinstance(found, Erasure):
            raise CaseErased(f"case {application_id} was erased: nothing is encrypted under its key again")
        return found

    async def new_case(self, application_id: str) -> None:
        """At intake, where the key is new: one write transaction that adds a key where the case
        has none and reads back what it has (this key, another gateway's, or an erasure), instead
        of a read and then a write; kept for the start's encryption. Only intake asks this way:
        everywhere else the case has its key, and a read (which a locked SQLite does not hold up)
        finds it."""
        if self._cached(application_id) is None:
            async with self._making.setdefault(application_id, asyncio.Lock()):
                if self._cached(application_id) is None:
                    self._keep(application_id, await self._make(application_id))
            self._making.pop(application_id, None)

    async def _make(self, application_id: str) -> AESGCM | Erasure:
        key, nonce = os.urandom(KEY_BYTES), os.urandom(NONCE_BYTES)
        wrapped = nonce + self._masters[self._wrapping.key_id].encrypt(nonce, key, _wrap_aad(application_id))
        store = await self._database.case_keys()
        return self._unwrap(
            await store.add(application_id, wrapped, self._wrapping.key_id, datetime.now(UTC))
        )

    async def _fetch_or_make(self, application_id: str) -> AESGCM | Erasure:
        record = await (await self._database.case_keys()).get(application_id)
        return await self._make(application_id) if record is None else self._unwrap(record)

    # --- the documents store's sealer (store/documents.py) -------------------------------------

    async def seal(self, application_id: str, purpose: str, data: bytes) -> tuple[str, bytes]:
        key_id = case_key_id(application_id)
        cipher = await self.encrypting(application_id)
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce + cipher.encrypt(nonce, data, f"{key_id}/{purpose}".encode())

    async def unseal(self, application_id: str, key_id: str, purpose: str, sealed: bytes) -> bytes:
        if key_id != case_key_id(application_id):
            raise PayloadDecryptionError(f"a document of {application_id} is sealed under another case's key")
        found = await self.decrypting(application_id)
        if isinstance(found, Erasure):
            raise CaseErased(f"case {application_id} was erased")
        try:
            return found.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], f"{key_id}/{purpose}".encode())
        except InvalidTag:
            raise PayloadDecryptionError(f"a document of {application_id} does not decrypt") from None
