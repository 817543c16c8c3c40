"""Timestamped HMAC signatures (``X-ODS-Signature``) for partner callbacks and alert webhooks.

Header: ``t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>." + raw body>`` (docs/partner-api.md,
"Callbacks"; alert webhooks are signed the same way with ``ODS_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-ODS-Signature"
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, body: bytes, now: float | None = None) -> str:
    t = int(now if now is not None else time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},sha256={mac}"


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
            parts[key] = value
    if "t" not in parts or "sha256" not in parts:
        return "malformed signature header: expected t=<unix seconds>,sha256=<hex>"
    try:
        t = int(parts["t"])
    except ValueError:
        return "malformed signature timestamp"
    current = now if now is not None else time.time()
    if abs(current - t) > tolerance_s:
        return f"stale signature: timestamp is more than {tolerance_s}s away from now"
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts["sha256"]):
        return "signature does not match the body"
    return None
