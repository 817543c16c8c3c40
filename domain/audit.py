"""The audit trail of personal data (CONTRACT section 11): who opened which cases, when, from where.

Each entry carries the hash of the one before it (``prev_hash``) and its own ``hash``: the SHA-256
of ``canonical_bytes`` (the entry's JSON without ``hash``: keys sorted, no spaces, UTF-8, ``at`` as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``). An export (``starter.py audit export``) writes each entry as
exactly that JSON plus ``hash``, so anyone can check the chain without this code. An entry holds no
personal data: application ids, counts, the caller's name, address and user agent, and a short,
masked ``detail``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, Field, field_serializer

AuditAction = Literal["decode", "document", "act", "acknowledge", "login", "login_failed", "erase", "export"]
AUDIT_ACTIONS: tuple[str, ...] = get_args(AuditAction)
AuditRole = Literal["ops", "portal", "auditor", "cli"]
AUDIT_ROLES: tuple[str, ...] = get_args(AuditRole)

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""
ENTRY_ID_DIGITS = 12
ENTRY_ID_PATTERN = r"^[0-9]{12,19}$"
ACTOR_MAX_LENGTH = 100
CLIENT_MAX_LENGTH = 64
USER_AGENT_MAX_LENGTH = 200
DETAIL_MAX_LENGTH = 200
MAX_CASES = 500
"""At most this many cases in one entry (a decode of more names the first ones, and says so)."""


def entry_id(seq: int) -> str:
    """An entry's id: its place in the chain, zero-padded so that ids sort like the chain."""
    return f"{seq:0{ENTRY_ID_DIGITS}d}"


def canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditEntry(BaseModel):
    """One entry of the audit log, as ``GET /v1/audit`` and the export show it."""

    id: str = Field(pattern=ENTRY_ID_PATTERN, description="the entry's place in the chain; the page cursor")
    at: AwareDatetime = Field(description="when it was recorded (UTC, microseconds)")
    actor: str = Field(
        max_length=ACTOR_MAX_LENGTH,
        description="who: a personal token's name, or the shared credential used (such as "
        "`shared-ops-token`)",
    )
    role: AuditRole = Field(description="the caller's role")
    action: AuditAction
    cases: list[str] = Field(default_factory=list, description="the application ids concerned")
    payloads: int = Field(default=0, ge=0, description="how many encrypted payloads were decoded")
    client: str = Field(default="", max_length=CLIENT_MAX_LENGTH, description="the caller's address")
    user_agent: str = Field(default="", max_length=USER_AGENT_MAX_LENGTH)
    detail: str = Field(default="", max_length=DETAIL_MAX_LENGTH, description="what exactly (masked)")
    prev_hash: str = Field(pattern="^[0-9a-f]{64}$", description="the hash of the entry before")
    hash: str = Field(pattern="^[0-9a-f]{64}$", description="SHA-256 of this entry's canonical JSON")

    @field_serializer("at", when_used="json")
    def _at_as_hashed(self, at: datetime) -> str:
        return canonical_time(at)

    def unhashed(self) -> dict[str, Any]:
        """What the hash covers: every field but ``hash``, ``at`` in its canonical form."""
        return self.model_dump(mode="json", exclude={"hash"})

    def computed_hash(self) -> str:
        return hash_of(self.unhashed())


def canonical_bytes(unhashed: dict[str, Any]) -> bytes:
    return json.dumps(unhashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def hash_of(unhashed: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(unhashed)).hexdigest()
