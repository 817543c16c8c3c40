"""Recording who opened personal data (``domain/audit.py``, CONTRACT section 11): the one way in.

Whatever opens a case's personal data, or changes who may, calls ``record`` with the ``Access`` of its
caller (the gateway builds it from the request: ``gateway/access.py``; the command line from the
machine's user). ``record`` bounds and masks what it is given, so that no entry holds personal data
even when a caller passes text it did not write; then appends the entry to the one chain.

A decode is attributed to the cases whose data keys its payloads are encrypted under: a payload
under a case's key carries the metadata ``encryption-key-id: case/<application_id>``
(``cases_of_payloads``); payloads under the master key count, and name no case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from temporalio.api.common.v1 import Payload

from domain.audit import (
    ACTOR_MAX_LENGTH,
    CLIENT_MAX_LENGTH,
    DETAIL_MAX_LENGTH,
    MAX_CASES,
    USER_AGENT_MAX_LENGTH,
    AuditAction,
    AuditEntry,
    AuditRole,
    canonical_time,
)
from domain.identifiers import is_application_id
from infra import codec
from infra.codec import ENCODING, METADATA_ENCODING
from infra.privacy import mask_text
from store.service import ServiceDatabase

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True)
class Access:
    """Who calls, as the audit log names them: ``actor`` (a personal token's name, or the shared
    credential used), its ``role``, and the client's address and user agent."""

    actor: str
    role: AuditRole
    client: str = ""
    user_agent: str = ""


def _bounded(text: str, limit: int) -> str:
    """One line, masked (ID numbers, phones), at most ``limit`` characters."""
    line = mask_text(_CONTROL.sub(" ", text).strip())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def cases_of_payloads(payloads: Sequence[Payload]) -> tuple[list[str], int]:
    """The cases whose keys ``payloads`` use (``infra.codec.cases_of_payloads``) and the number of
    encrypted payloads among them (under a case's key or the master key)."""
    encrypted = sum(1 for payload in payloads if payload.metadata.get(METADATA_ENCODING) == ENCODING)
    return codec.cases_of_payloads(payloads), encrypted


async def record(
    database: ServiceDatabase,
    access: Access,
    action: AuditAction,
    *,
    cases: Iterable[str] = (),
    payloads: int = 0,
    detail: str = "",
) -> AuditEntry:
    """Append one entry to the audit log: ``access`` did ``action`` on ``cases`` (application ids;
    anything else is left out), opening ``payloads`` encrypted payloads; ``detail`` is bounded and
    masked. Raises ``ServiceDatabaseUnavailable`` when the log cannot be written: callers that
    open personal data then answer 503 and show nothing."""
    named = list(dict.fromkeys(case for case in cases if is_application_id(case)))
    if len(named) > MAX_CASES:
        detail = f"{len(named) - MAX_CASES} more cases not named; {detail}".rstrip("; ")
        named = named[:MAX_CASES]
    log = await database.audit()
    return await log.append(
        actor=_bounded(access.actor, ACTOR_MAX_LENGTH) or "unknown",
        role=access.role,
        action=action,
        cases=named,
        payloads=max(payloads, 0),
        client=_bounded(access.client, CLIENT_MAX_LENGTH),
        user_agent=_bounded(access.user_agent, USER_AGENT_MAX_LENGTH),
        detail=_bounded(detail, DETAIL_MAX_LENGTH),
    )


async def export(
    database: ServiceDatabase, access: Access, write: Callable[[str], object], *, since: datetime | None
) -> int:
    """Write every entry recorded at ``since`` or later, oldest first, as one JSON line each (exactly
    what its hash covers, plus ``hash``), then record the export itself; answers how many."""
    log = await database.audit()
    count = 0
    async for entry in log.entries(since=since):
        write(entry.model_dump_json() + "\n")
        count += 1
    since_text = f"since {canonical_time(since)}" if since is not None else "everything"
    await record(database, access, "export", detail=f"{since_text}: {count} entries")
    return count
