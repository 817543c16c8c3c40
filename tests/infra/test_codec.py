"""The payload codec (infra/codec.py): AES-GCM round trips, key rotation, plaintext pass-through,
and clear refusals of an unknown key id and of unusable ODS_CODEC_KEYS."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload

from infra.codec import (
    ENCODING,
    METADATA_KEY_ID,
    CodecKeyError,
    EncryptionCodec,
    PayloadDecryptionError,
    UnknownCodecKey,
    parse_codec_keys,
)
from infra.settings import DEV_DEFAULTS, Settings
from infra.temporal import data_converter
from tests import factories


def key_text(key_id: str, key: bytes | None = None) -> str:
    return f"{key_id}:{base64.b64encode(key or os.urandom(32)).decode()}"


def plain(data: bytes, encoding: bytes = b"json/plain") -> Payload:
    return Payload(metadata={"encoding": encoding}, data=data)


SECRET = b"410502199001011234 13803720000"


async def test_a_payload_round_trips_and_its_ciphertext_hides_it() -> None:
    codec = EncryptionCodec.from_text(key_text("k1"))
    original = [plain(SECRET), plain(b"{}"), Payload()]
    encoded = await codec.encode(original)
    assert len(encoded) == 3
    for p in encoded:
        assert p.metadata["encoding"] == ENCODING == b"binary/encrypted"
        assert p.metadata[METADATA_KEY_ID] == b"k1"
        assert b"410502199001011234" not in p.SerializeToString()
        assert b"13803720000" not in p.SerializeToString()
    assert await codec.decode(encoded) == original


async def test_each_payload_gets_its_own_nonce() -> None:
    codec = EncryptionCodec.from_text(key_text("k1"))
    first, second = await codec.encode([plain(SECRET), plain(SECRET)])
    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_an_old_key_still_decrypts_after_a_new_first_key() -> None:
    old = key_text("2026a")
    before = await EncryptionCodec.from_text(old).encode([plain(SECRET)])
    rotated = EncryptionCodec.from_text(f"{key_text('2026b')},{old}")
    assert rotated.encrypting_key_id == "2026b"
    assert await rotated.decode(before) == [plain(SECRET)]
    after = await rotated.encode([plain(SECRET)])
    assert after[0].metadata[METADATA_KEY_ID] == b"2026b"
    assert await rotated.decode(after) == [plain(SECRET)]


async def test_a_payload_under_an_unknown_key_id_fails_naming_that_id() -> None:
    encoded = await EncryptionCodec.from_text(key_text("retired-2025")).encode([plain(SECRET)])
    codec = EncryptionCodec.from_text(key_text("current"))
    with pytest.raises(UnknownCodecKey, match="'retired-2025'") as refused:
        await codec.decode(encoded)
    assert refused.value.key_id == "retired-2025"
    assert "ODS_CODEC_KEYS" in str(refused.value)


async def test_the_wrong_key_material_under_a_known_id_fails_clearly() -> None:
    encoded = await EncryptionCodec.from_text(key_text("k1")).encode([plain(SECRET)])
    with pytest.raises(PayloadDecryptionError, match="'k1'"):
        await EncryptionCodec.from_text(key_text("k1")).decode(encoded)


async def test_a_tampered_payload_does_not_decrypt() -> None:
    codec = EncryptionCodec.from_text(key_text("k1"))
    [encoded] = await codec.encode([plain(SECRET)])
    data = bytearray(encoded.data)
    data[-1] ^= 1
    tampered = Payload(metadata=dict(encoded.metadata), data=bytes(data))
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([tampered])


async def test_payloads_that_are_not_encrypted_pass_through_decode() -> None:
    codec = EncryptionCodec.from_text(key_text("k1"))
    plaintext = [plain(SECRET), plain(b"", b"binary/null"), Payload(data=b"no metadata")]
    assert await codec.decode(plaintext) == plaintext
    [encrypted] = await codec.encode([plain(b"1")])
    assert await codec.decode([plaintext[0], encrypted]) == [plaintext[0], plain(b"1")]


@pytest.mark.parametrize(
    "text,complaint",
    [
        ("", "empty"),
        (" , ,", "empty"),
        ("no-colon", "entry 1 is not id:base64"),
        ("k1:", "entry 1 is not id:base64"),
        (":" + base64.b64encode(bytes(32)).decode(), "key id ''"),
        ("bad id:" + base64.b64encode(bytes(32)).decode(), "key id 'bad id'"),
        ("k1:not*base64!", "the key of id 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(bytes(16)).decode(), "the key of id 'k1' is 16 bytes"),
        ("k1:" + base64.b64encode(bytes(33)).decode(), "is 33 bytes"),
        (
            f"{key_text('k1')},{key_text('k2')},{key_text('k1')}",
            "key id 'k1' appears more than once",
        ),
    ],
)
def test_unusable_codec_keys_are_refused_saying_why(text: str, complaint: str) -> None:
    with pytest.raises(CodecKeyError, match="ODS_CODEC_KEYS") as refused:
        parse_codec_keys(text)
    assert complaint in str(refused.value)


def test_a_refusal_never_shows_key_material() -> None:
    material = base64.b64encode(b"s" * 16).decode()
    with pytest.raises(CodecKeyError) as refused:
        parse_codec_keys(f"k1:{material}")
    assert material not in str(refused.value)
    [key] = parse_codec_keys(key_text("k2", b"t" * 32))
    assert base64.b64encode(b"t" * 32).decode() not in repr(key)


def test_keys_parse_in_order_around_blanks_and_spaces() -> None:
    keys = parse_codec_keys(f" {key_text('new')} , ,{key_text('old')},")
    assert [k.key_id for k in keys] == ["new", "old"]
    assert all(len(k.key) == 32 for k in keys)


async def test_the_data_converter_encrypts_what_the_application_carries() -> None:
    body = factories.application()
    person = body["legal_representative"]
    converter = data_converter(Settings())
    [payload] = await converter.encode([body])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[METADATA_KEY_ID] == DEV_DEFAULTS["codec_keys"].partition(":")[0].encode()
    wire = payload.SerializeToString()
    assert person["id_number"].encode() not in wire
    assert person["phone"].encode() not in wire
    assert await converter.decode([payload], [dict]) == [body]


async def test_the_data_converter_without_arguments_uses_the_process_settings() -> None:
    [payload] = await data_converter().encode(["x"])
    assert payload.metadata["encoding"] == ENCODING
    assert await data_converter(Settings()).decode([payload], [str]) == ["x"]
