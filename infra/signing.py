"""Timestamped HMAC signatures (``X-ODS-Signature``) for partner callbacks and alert webhooks, and
the Standard Webhooks headers of outgoing webhooks (alerts and the portal push).

Header: ``t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>." + raw body>`` (docs/partner-api.md,
"Callbacks"; alert webhooks are signed the same way with ``ODS_WEBHOOK_SECRET``).

``verify`` accepts a signature only within ``DEFAULT_TOLERANCE_S`` of now (either way), so a
captured callback cannot be replayed later; within the window a replay is the same event again,
which the case drops by its event id. The MAC is compared in constant time, as bytes, whatever the
header holds (a header is latin-1 text, and ``hmac.compare_digest`` refuses non-ASCII ``str``).

Standard Webhooks (https://www.standardwebhooks.com, docs/operations.md): ``webhook-id``,
``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">``, made by the ``standardwebhooks`` package. Its key is
``webhook_key(ODS_WEBHOOK_SECRET)``: a ``whsec_`` value base64-decoded, any other value its UTF-8
bytes. (``standardwebhooks.Webhook`` given a ``str`` would base64-decode any value, so it is
always given the key's bytes.) ``X-ODS-Signature`` keeps keying by the secret's text, as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime

from standardwebhooks import Webhook

SIGNATURE_HEADER = "X-ODS-Signature"
DEFAULT_TOLERANCE_S = 300
SIGNATURE_PATTERN = r"^t=[0-9]{1,12},sha256=[0-9a-f]{64}$"
"""The header as ``sign`` writes it (``verify`` also takes the two parts in either order, spaced)."""
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_HEX_MAC = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
WHSEC_PREFIX = "whsec_"


def _mac(secret: str | bytes, t: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, now: float | None = None) -> str:
    """``X-ODS-Signature`` of ``body``: a text secret is its UTF-8 bytes; bytes are the key itself
    (``webhook_key`` of ``ODS_WEBHOOK_SECRET``)."""
    t = int(now if now is not None else time.time())
    return f"t={t},sha256={_mac(secret, t, body)}"


def verify(
    secret: str | bytes,
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


def webhook_key(secret: str) -> bytes:
    """The HMAC key of ``ODS_WEBHOOK_SECRET`` for Standard Webhooks: a ``whsec_`` value is
    base64-decoded (padding optional), any other value is the key as its UTF-8 bytes.
    ValueError for a ``whsec_`` value that is not base64, or an empty key (never showing it)."""
    if secret.startswith(WHSEC_PREFIX):
        encoded = secret.removeprefix(WHSEC_PREFIX).strip()
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("ODS_WEBHOOK_SECRET: a whsec_ value must be base64 after the prefix") from None
    else:
        key = secret.encode()
    if not key:
        raise ValueError("ODS_WEBHOOK_SECRET: the webhook key is empty")
    return key


def standard_webhook_headers(
    secret: str, msg_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` of one POST of ``body``."""
    t = int(now if now is not None else time.time())
    # ``sign`` reads the datetime as UTC whatever its zone: give it one in UTC.
    signature = Webhook(webhook_key(secret)).sign(msg_id, datetime.fromtimestamp(t, UTC), body.decode())
    return {
        WEBHOOK_ID_HEADER: msg_id,
        WEBHOOK_TIMESTAMP_HEADER: str(t),
        WEBHOOK_SIGNATURE_HEADER: signature,
    }
