"""End to end with the real ``temporal`` CLI on the session's dev server: a case's history shows
none of the applicant's ID numbers or phones without the codec, and all of them through the
gateway's codec endpoint with the ops token (``--codec-endpoint``/``--codec-auth``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import random
from typing import Any

import pytest

from infra.binaries import temporal_cli
from tests import factories
from tests.conftest import Stack
from tests.helpers import start, until

pytestmark = pytest.mark.e2e


def personal_data(node: Any) -> set[str]:
    """Every ID number and phone in an application."""
    if isinstance(node, dict):
        found = {str(v) for k, v in node.items() if k in ("id_number", "phone") and v}
        return found.union(*(personal_data(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(personal_data(v) for v in node))
    return set()


def payload_texts(node: Any) -> list[str]:
    """The bytes of every payload in ``temporal workflow show --output json`` (base64 ``data``),
    decoded."""
    found: list[str] = []
    if isinstance(node, dict):
        data = node.get("data")
        if isinstance(node.get("metadata"), dict) and isinstance(data, str):
            try:
                found.append(base64.b64decode(data, validate=True).decode("utf-8", errors="replace"))
            except (binascii.Error, ValueError):
                found.append(data)
        for value in node.values():
            found += payload_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += payload_texts(value)
    return found


# Left in plaintext by design: search attributes (the server indexes them; never personal data,
# README "Finding a case in the Web UI"), the SDK's patch markers (a patch id) and its local
# activity markers' own record (sequence number, attempt, activity type, times; the activity's
# result beside it is encrypted).
NOT_ENCODED = ("searchAttributes", "patch-data", "markerRecordedEventAttributes.details.data")


def payload_encodings(node: Any, path: str = "") -> dict[str, str]:
    """The ``encoding`` of every payload, by where it is in the history."""
    found: dict[str, str] = {}
    if isinstance(node, dict):
        metadata = node.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("encoding"), str):
            found[path] = base64.b64decode(metadata["encoding"]).decode("utf-8", errors="replace")
        for key, value in node.items():
            found |= payload_encodings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found |= payload_encodings(value, f"{path}[{i}]")
    return found


def encoded_payloads(history: Any) -> dict[str, str]:
    """The encodings of the payloads that the codec encodes (all but ``NOT_ENCODED``)."""
    return {
        where: encoding
        for where, encoding in payload_encodings(history).items()
        if not any(part in where for part in NOT_ENCODED)
    }


async def show(stack: Stack, workflow_id: str, *codec_flags: str) -> tuple[str, Any]:
    """``temporal workflow show -w ID --output json`` against the session's dev server.

    Run as a child of the event loop (never blocking it): the gateway that answers the CLI's codec
    calls runs in this very loop."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    process = await asyncio.create_subprocess_exec(
        str(temporal_cli()),
        "workflow",
        "show",
        "-w",
        workflow_id,
        "--output",
        "json",
        "--address",
        stack.client.service_client.config.target_host,
        "--namespace",
        stack.client.namespace,
        *codec_flags,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()[-2000:]
    text = out.decode()
    return text, json.loads(text)


async def test_the_cli_sees_personal_data_only_through_the_codec_with_the_ops_token(dev_stack: Stack) -> None:
    await dev_stack.reset_sandbox()
    body = factories.application(delivery="postal")
    # Phones of their own, so that no other case's can be mistaken for this one's.
    body["legal_representative"]["phone"] = f"139{random.randint(10**7, 10**8 - 1)}"
    body["delivery"]["phone"] = f"158{random.randint(10**7, 10**8 - 1)}"
    secrets = personal_data(body)
    assert len(secrets) == 3  # one ID number (representative and shareholder), two phones
    handle = await start(dev_stack, body)
    await until(dev_stack, body["application_id"], lambda s: s.is_final, timeout=120)

    codec = [
        "--codec-endpoint",
        f"{str(dev_stack.gateway.base_url).rstrip('/')}/codec",
        "--codec-auth",
        f"Bearer {dev_stack.settings.ops_token}",
    ]
    # The case carries its parcel itself (lean-case-v2): the recipient's phone is in its history
    # (the EMS booking), under the same key as the rest; there is no delivery child to look at.
    for workflow_id in (handle.id,):
        text, history = await show(dev_stack, workflow_id)
        payloads = payload_texts(history)
        assert payloads, f"no payloads in the history of {workflow_id}"
        encodings = encoded_payloads(history)
        assert len(encodings) > 5, encodings
        assert set(encodings.values()) == {"binary/encrypted"}, encodings
        for secret in secrets:
            assert secret not in text, f"{secret} in the raw history of {workflow_id}"
            assert not [p for p in payloads if secret in p], f"{secret} in a payload of {workflow_id}"

    text, history = await show(dev_stack, handle.id, *codec)
    decoded = "\n".join([text, *payload_texts(history)])
    assert "binary/encrypted" not in payload_encodings(history).values()
    for secret in secrets:
        assert secret in decoded, f"{secret} not in the decoded history of {handle.id}"
    assert "PostalDelivery" not in text  # no child: the delivery is the case's own
