"""A key per case (infra/case_keys.py, infra/codec.py): under a serialization context naming a case's
workflow, payloads are encrypted under the case's own data key and bound to the namespace and workflow
id; a moved payload is refused; master keys rotate; erased cases decode to the marker; histories
recorded before (key id "dev", no associated data) still decode. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from infra.case_keys import CaseKeyring
from infra.codec import (
    METADATA_KEY_ID,
    METADATA_WORKFLOW_ID,
    CaseErased,
    EncryptionCodec,
    PayloadDecryptionError,
    UnknownCodecKey,
    cases_of_payloads,
)
from infra.settings import DEV_DEFAULTS
from store.service import ServiceDatabase

NS = "default"
OLD = "old:" + base64.b64encode(os.urandom(32)).decode()
NEW = "new:" + base64.b64encode(os.urandom(32)).decode()
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"id_number":"410502199001011234"}')


def in_case(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace=NS, workflow_id=workflow_id)


@pytest_asyncio.fixture
async def database(engine: AsyncEngine) -> AsyncIterator[ServiceDatabase]:
    yield ServiceDatabase.on(engine)


def codec(database: ServiceDatabase, keys: str = OLD) -> tuple[EncryptionCodec, CaseKeyring]:
    # No cache: what another process sees at once.
    ring = CaseKeyring.from_text(keys, database, ttl_s=0)
    return EncryptionCodec.from_text(keys, ring), ring


async def test_a_case_s_payloads_are_under_its_own_key_bound_to_its_workflow(
    database: ServiceDatabase,
) -> None:
    plain_codec, _ = codec(database)
    [sealed] = await plain_codec.with_context(in_case("setup-AY-0001")).encode([PLAIN])
    assert sealed.metadata[METADATA_KEY_ID] == b"case/AY-0001"
    assert b"410502" not in sealed.SerializeToString()
    assert cases_of_payloads([sealed, PLAIN]) == ["AY-0001"]
    # The same workflow's context, none (the codec endpoint), another process's codec: all read it.
    assert await plain_codec.with_context(in_case("setup-AY-0001")).decode([sealed]) == [PLAIN]
    assert await plain_codec.decode([sealed]) == [PLAIN]
    assert await codec(database)[0].for_namespace(NS).decode([sealed]) == [PLAIN]
    # The delivery child, the portal push and the case's activities share the case's key.
    for workflow_id in ("setup-AY-0001-delivery", "portal-push-setup-AY-0001"):
        [child] = await plain_codec.with_context(in_case(workflow_id)).encode([PLAIN])
        assert child.metadata[METADATA_KEY_ID] == b"case/AY-0001"
    activity = ActivitySerializationContext(
        namespace=NS,
        activity_id="1",
        activity_type="t",
        activity_task_queue="q",
        workflow_id="setup-AY-0001",
        workflow_type="EnterpriseSetup",
        is_local=False,
    )
    [by_activity] = await plain_codec.with_context(activity).encode([PLAIN])
    assert by_activity.metadata[METADATA_KEY_ID] == b"case/AY-0001"
    # A workflow of no case keeps the master key, as before.
    [other] = await plain_codec.with_context(in_case("alert-webhooks-1")).encode([PLAIN])
    assert other.metadata[METADATA_KEY_ID] == b"old" and cases_of_payloads([other]) == []


async def test_a_payload_moved_to_another_case_or_namespace_does_not_decrypt(
    database: ServiceDatabase,
) -> None:
    plain_codec, _ = codec(database)
    [sealed] = await plain_codec.with_context(in_case("setup-AY-0001")).encode([PLAIN])
    await plain_codec.with_context(in_case("setup-AY-0002")).encode([PLAIN])  # that case has a key too
    with pytest.raises(PayloadDecryptionError, match="moved"):
        await plain_codec.with_context(in_case("setup-AY-0002")).decode([sealed])
    with pytest.raises(PayloadDecryptionError):
        await plain_codec.for_namespace("elsewhere").decode([sealed])
    # Relabelled to look like the other workflow's: the associated data no longer matches.
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[METADATA_WORKFLOW_ID] = b"setup-AY-0002"
    with pytest.raises(PayloadDecryptionError):
        await plain_codec.with_context(in_case("setup-AY-0002")).decode([relabelled])
    relabelled.metadata[METADATA_KEY_ID] = b"case/AY-0002"
    with pytest.raises(PayloadDecryptionError):
        await plain_codec.with_context(in_case("setup-AY-0002")).decode([relabelled])


async def test_master_keys_rotate_and_old_histories_still_decode(database: ServiceDatabase) -> None:
    before, _ = codec(database, OLD)
    [sealed] = await before.with_context(in_case("setup-AY-0003")).encode([PLAIN])
    rotated, _ = codec(database, f"{NEW},{OLD}")
    assert await rotated.decode([sealed]) == [PLAIN]  # the case's key, wrapped by the old master key
    [newer] = await rotated.with_context(in_case("setup-AY-0004")).encode([PLAIN])
    assert await rotated.decode([newer]) == [PLAIN]
    with pytest.raises(UnknownCodecKey, match="old"):
        await codec(database, NEW)[0].decode([sealed])  # the old master key removed too early
    # Recorded before case keys: key id "dev", no associated data, whatever the context.
    legacy = await EncryptionCodec.from_text(DEV_DEFAULTS["codec_keys"]).encode([PLAIN])
    dev, _ = codec(database, DEV_DEFAULTS["codec_keys"])
    assert await dev.with_context(in_case("setup-AY-0003")).decode(legacy) == [PLAIN]
    # Without case keys (the replayer) a case's payload is refused, clearly.
    with pytest.raises(UnknownCodecKey, match="no service database"):
        await EncryptionCodec.from_text(OLD).decode([sealed])


async def test_an_erased_case_decodes_to_the_marker_and_takes_nothing_new(database: ServiceDatabase) -> None:
    plain_codec, _ = codec(database)
    [sealed] = await plain_codec.with_context(in_case("setup-AY-0005")).encode([PLAIN])
    [kept] = await plain_codec.with_context(in_case("setup-AY-0006")).encode([PLAIN])
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    store = await database.case_keys()
    _, first = await store.erase("AY-0005", by="zhang.wei", reason="PIPL 47", status="{}", at=at)
    assert first
    _, again = await store.erase("AY-0005", by="li.na", reason="again", status="{}", at=datetime.now(UTC))
    assert not again
    record = await store.get("AY-0005")
    assert record is not None and record.wrapped_key is None and record.erased_by == "zhang.wei"
    [marker] = await plain_codec.decode([sealed])
    assert json.loads(marker.data) == {
        "erased": True,
        "application_id": "AY-0005",
        "erased_at": at.isoformat(),
        "erased_by": "zhang.wei",
    }
    with pytest.raises(CaseErased):
        await plain_codec.with_context(in_case("setup-AY-0005")).encode([PLAIN])
    assert await plain_codec.decode([kept]) == [PLAIN]  # every other case reads as before


async def test_intake_makes_a_new_case_s_key_once_and_never_a_second_one(database: ServiceDatabase) -> None:
    """``new_case`` (the gateway, before a start): the key in one write; a second gateway asking
    for the same case gets the first's, and an erased case stays erased."""
    first_codec, first = codec(database)
    second_codec, second = codec(database)
    await first.new_case("AY-0010")
    await second.new_case("AY-0010")  # the row is there: read back, not replaced
    [sealed] = await first_codec.with_context(in_case("setup-AY-0010")).encode([PLAIN])
    assert await second_codec.decode([sealed]) == [PLAIN]
    record = await (await database.case_keys()).get("AY-0010")
    assert record is not None and record.wrapped_key is not None

    store = await database.case_keys()
    await store.erase("AY-0010", by="zhang.wei", reason="PIPL 47", status="{}", at=datetime.now(UTC))
    await second.new_case("AY-0010")
    with pytest.raises(CaseErased):
        await second_codec.with_context(in_case("setup-AY-0010")).encode([PLAIN])


async def test_a_case_s_documents_are_stored_sealed_under_its_key(database: ServiceDatabase) -> None:
    _, ring = codec(database)
    database.seal_documents_with(ring)
    documents = await database.documents()
    pdf = b"%PDF-1.4 Zhang San 13800138000"
    await documents.save("AY-0007", "business_licence", pdf)
    assert await documents.read("AY-0007", "business_licence") == pdf
    unsealed = await ServiceDatabase.on(await database.engine()).documents()
    with pytest.raises(LookupError, match="sealed"):
        await unsealed.read("AY-0007", "business_licence")  # no key: nothing readable in the row
    assert await documents.delete_case("AY-0007") == 1
    assert await documents.list("AY-0007") == []
