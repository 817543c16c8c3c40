"""Timestamped HMAC signatures (``X-ODS-Signature``) for partner callbacks and alert webhooks.

Header: ``t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>." + raw body>`` (docs/partner-api.md,
"Callbacks"; alert webhooks are signed the same way with ``ODS_WEBHOOK_SECRET``).

``verify`` accepts a signature only within ``DEFAULT_TOLERANCE_S`` of now (either way), so a
captured callback cannot be replayed later; within the window a replay is the same event again,
which the case drops by its event id. The MAC is compared in constant time, as bytes, whatever the
header holds (a header is latin-1 text, and ``hmac.compare_digest`` refuses non-ASCII ``str``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "X-ODS-Signature"
DEFAULT_TOLERANCE_S = 300
SIGNATURE_PATTERN = r"^t=[0-9]{1,12},sha256=[0-9a-f]{64}$"
"""The header as ``sign`` writes it (``verify`` also takes the two parts in either order, spaced)."""
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_HEX_MAC = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


def _mac(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: float | None = None) -> str:
    t = int(now if now is not None else time.time())
    return f"t={t},sha256={_mac(secret, t, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str | None:
    """None when the signature is good and fresh; otherwise why it is not."""
    if not header:
        return f"missing {SIGNATURE_HEADER} header"
    parts: dict[str, str] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key] = value.strip()
    if "t" not in parts or "sha256" not in parts:
        return "malformed signature header: expected t=<unix seconds>,sha256=<hex>"
    if not _TIMESTAMP.fullmatch(parts["t"]):
        return "malformed signature timestamp: expected unix seconds"
    if not _HEX_MAC.fullmatch(parts["sha256"]):
        return "malformed signature: expected 64 hex digits of HMAC-SHA256"
    t = int(parts["t"])
    current = now if now is not None else time.time()
    if abs(current - t) > tolerance_s:
        return f"stale signature: timestamp is more than {tolerance_s}s away from now"
    expected = _mac(secret, t, body).encode("ascii")
    if not hmac.compare_digest(expected, parts["sha256"].lower().encode("ascii")):
        return "signature does not match the body"
    return None
