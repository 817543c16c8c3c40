"""Timestamped HMAC signatures (``X-ODS-Signature``) for partner callbacks and alert webhooks, and
the Standard Webhooks headers of outgoing webhooks (alerts and the portal push).

Partner callbacks (docs/partner-api.md, "Callbacks"): ``t=<unix seconds>,v2=<hex HMAC-SHA256 of
"<t>.<partner>." + raw body>``, keyed by the signing party's own secret (``callback_key``), the
partner being the one the callback URL names (``seal_shop``, ``postal``): a key of one party cannot
sign for another, and a signature made for one URL does not hold at another. The header of before,
``t=…,sha256=<hex HMAC-SHA256 of "<t>." + raw body>`` keyed by the one ``ODS_CALLBACK_SECRET``, is
taken only where the gateway allows it (dev, on loopback). Alert webhooks keep that form
(``sign``/``verify``), keyed by their endpoint's secret.

``verify`` accepts a signature only within ``DEFAULT_TOLERANCE_S`` of now (either way), so a
captured callback cannot be replayed later; within the window a replay is the same event again,
which the case drops by its event id. The MAC is compared in constant time, as bytes, whatever the
header holds (a header is latin-1 text, and ``hmac.compare_digest`` refuses non-ASCII ``str``).

Standard Webhooks (https://www.standardwebhooks.com, docs/operations.md): ``webhook-id``,
``webhook-timestamp`` (unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">``, made by the ``standardwebhooks`` package. Its key is
``webhook_key`` of the endpoint's secret (``Settings.webhook_secret_of``): a ``whsec_`` value
base64-decoded, any other value its UTF-8 bytes. (``standardwebhooks.Webhook`` given a ``str``
would base64-decode any value, so it is always given the key's bytes.)
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
    (``webhook_key`` of an alert endpoint's secret)."""
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
    parts = _signature_parts(header)
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


CALLBACK_SIGNATURE_PATTERN = r"^t=[0-9]{1,12}(,sha256=[0-9a-f]{64})?,v2=[0-9a-f]{64}$"
"""The callback header as ``sign_callback`` writes it (a partner moving from the shared secret may
send ``sha256=`` beside ``v2=``: a gateway of before reads that one, this one the other)."""
_CALLBACK_KEY_CONTEXT = b"ods-callback-key/v1/"


def callback_key(master: str, party: str) -> str:
    """The callback secret of ``party`` (``postal``, or a seal shop's id) when ``ODS_CALLBACK_SECRETS``
    names none for it: derived from ``ODS_CALLBACK_SECRET``, so every party's differs and the
    master never leaves the service (``python starter.py callback-secret PARTY`` prints one)."""
    return hmac.new(master.encode(), _CALLBACK_KEY_CONTEXT + party.encode(), hashlib.sha256).hexdigest()


def _callback_mac(key: str, t: int, partner: str, body: bytes) -> str:
    return hmac.new(key.encode(), f"{t}.{partner}.".encode() + body, hashlib.sha256).hexdigest()


def sign_callback(key: str, partner: str, body: bytes, now: float | None = None) -> str:
    """``X-ODS-Signature`` of a callback to ``/v1/callbacks/<partner>``, keyed by the signer's secret."""
    t = int(now if now is not None else time.time())
    return f"t={t},v2={_callback_mac(key, t, partner, body)}"


def _signature_parts(header: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts[key] = value.strip()
    return parts


def verify_callback(
    key: str | None,
    partner: str,
    body: bytes,
    header: str | None,
    *,
    legacy_secret: str | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str | None:
    """None when ``header`` signs ``body`` for ``partner`` with ``key``, fresh; otherwise why not
    (``key`` None: the body names no signer the gateway knows). A header without ``v2=`` is checked
    the way of before against ``legacy_secret``, and refused when there is none."""
    if not header:
        return f"missing {SIGNATURE_HEADER} header"
    parts = _signature_parts(header)
    if "v2" not in parts:
        if legacy_secret is None:
            return (
                'the signature must be v2=<hex HMAC-SHA256 of "<t>.<partner>." + body> keyed by '
                "this partner's own secret; the shared secret's sha256= is no longer taken"
            )
        return verify(legacy_secret, body, header, tolerance_s=tolerance_s, now=now)
    if key is None:
        return "the callback names no signer: a seal shop's completion names its shop in data.shop_id"
    t = parts.get("t", "")
    if not _TIMESTAMP.fullmatch(t):
        return "malformed signature timestamp: expected t=<unix seconds>"
    if not _HEX_MAC.fullmatch(parts["v2"]):
        return "malformed signature: expected v2= and 64 hex digits of HMAC-SHA256"
    current = now if now is not None else time.time()
    if abs(current - int(t)) > tolerance_s:
        return f"stale signature: timestamp is more than {tolerance_s}s away from now"
    expected = _callback_mac(key, int(t), partner, body).encode("ascii")
    if not hmac.compare_digest(expected, parts["v2"].lower().encode("ascii")):
        return f"signature does not match the body, the partner {partner} and the signer's secret"
    return None


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret (``ODS_WEBHOOK_SECRET``, ``ODS_PORTAL_WEBHOOK_SECRET``, an
    endpoint's own) for Standard Webhooks: a ``whsec_`` value is base64-decoded (padding optional),
    any other value is the key as its UTF-8 bytes. ValueError for a ``whsec_`` value that is not
    base64, or an empty key (never showing it)."""
    if secret.startswith(WHSEC_PREFIX):
        encoded = secret.removeprefix(WHSEC_PREFIX).strip()
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret's whsec_ value must be base64 after the prefix") from None
    else:
        key = secret.encode()
    if not key:
        raise ValueError("a webhook secret's key is empty")
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
