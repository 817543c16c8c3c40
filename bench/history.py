"""Counting a finished case's shape from Temporal: its history and every child's (``bench/shape.py``)."""

from __future__ import annotations

from collections import Counter

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.shape import Shape, external_signals, shape_of_history

MAX_DEPTH = 5  # a case's children have none of their own today; stop well before a loop could matter


async def count_shape(client: Client, workflow_id: str) -> Shape:
    """The shape of the finished workflow ``workflow_id`` and of all its descendants; each one's
    ``external_signals`` are the signals it received that no workflow of the family sent."""
    sent: Counter[str] = Counter()
    family: list[tuple[Shape, str]] = []
    shape = await _read(client, workflow_id, sent, family, depth=0)
    for member, member_id in family:
        member.external_signals = external_signals(member.signals_received, sent.get(member_id, 0))
    return shape


async def _read(
    client: Client, workflow_id: str, sent: Counter[str], family: list[tuple[Shape, str]], depth: int
) -> Shape:
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    history = await handle.fetch_history()
    shape, child_ids, sent_here = shape_of_history(description.workflow_type, history.events, EventType.Name)
    shape.history_bytes = sum(event.ByteSize() for event in history.events)
    shape.payload_bytes = sum(payload_bytes(event) for event in history.events)
    sent.update(sent_here)
    family.append((shape, workflow_id))
    if depth < MAX_DEPTH:
        shape.children = [await _read(client, child, sent, family, depth + 1) for child in child_ids]
    return shape


def payload_bytes(message: Message) -> int:
    """The stored size of every ``Payload`` inside a history event (walked through its fields)."""
    if isinstance(message, Payload):
        return message.ByteSize()
    total = 0
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            total += sum(payload_bytes(v) for v in value.values() if isinstance(v, Message))
        elif field.is_repeated:
            total += sum(payload_bytes(item) for item in value)
        else:
            total += payload_bytes(value)
    return total
