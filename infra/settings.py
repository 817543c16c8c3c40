"""The one settings object: every ``ODS_*`` variable (the README's configuration table)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.signing import WHSEC_PREFIX, callback_key, webhook_key

DEV_DEFAULTS = {
    "portal_token": "dev-portal-token",
    "ops_token": "dev-ops-token",
    "alerts_token": "dev-alerts-token",
    "callback_secret": "dev-callback-secret",
    "webhook_secret": "dev-webhook-secret",
    # Keys the fingerprints of the tokens operators' sessions were opened with (gateway/sessions.py).
    "session_secret": "dev-session-secret",
    # Payload encryption (infra/codec.py): one fixed, public key, id ``dev``. Never for real data.
    "codec_keys": "dev:2Su0nw2SEoxK5gIBGyW8ID0mnBWVoc8THTc8j7pF0Bw=",
}
_DEV_CODEC_KEY = base64.b64decode(DEV_DEFAULTS["codec_keys"].partition(":")[2])
# An origin as a browser sends it: scheme, host and port, no path (never ``*``).
_ORIGIN = re.compile(r"^https?://[^/\s*]+$")
# ``ODS_OPERATOR_TOKENS``: a name as it is recorded (letters of any script, digits, ``.``, ``_``,
# ``-``, ``@``), and a token of at least 16 bearer-token characters (RFC 6750's b64token).
_OPERATOR_NAME = re.compile(r"[\w.@-]{1,64}")
_OPERATOR_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,512}", re.ASCII)
# The name a session opened with the shared ops token goes by (gateway/sessions.py): no person's.
SHARED_OPS_NAME = "shared-ops-token"
_ROLE_TOKENS = {
    "portal_token": "ODS_PORTAL_TOKEN",
    "ops_token": "ODS_OPS_TOKEN",
    "alerts_token": "ODS_ALERTS_TOKEN",
}


# Secrets that must be real ones when the service is exposed (``_refuse_weak_settings_when_exposed``).
_SECRETS = (
    "portal_token",
    "ops_token",
    "alerts_token",
    "callback_secret",
    "webhook_secret",
    "session_secret",
)
MIN_SECRET_LENGTH = 32
# The addresses a process listens on.
_LISTENERS = ("gateway_addr", "sandbox_addr", "worker_metrics_addr")


def _is_loopback(address: str) -> bool:
    """Whether ``host[:port]`` (or ``[v6]:port``) names this machine only; "0" (off) counts as such."""
    if address in ("", "0"):
        return True
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or address.startswith("[") else address
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pairs(text: str, variable: str, form: str) -> Iterator[tuple[str, str, str]]:
    """The ``key:value`` entries of a comma-separated setting as (where, key, value), ``where``
    naming the entry by its position; blank entries (a trailing comma) are skipped. ValueError for
    an entry without its colon, naming it as ``form`` (never showing a value)."""
    for position, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key, colon, value = (part.strip() for part in entry.partition(":"))
        where = f"{variable} entry {position}"
        if not colon:
            raise ValueError(f"{where} is not {form}")
        yield where, key, value


def parse_operator_tokens(text: str, variable: str = "ODS_OPERATOR_TOKENS") -> dict[str, str]:
    """``ODS_OPERATOR_TOKENS`` (or ``variable``, such as ``ODS_AUDITOR_TOKENS``: ``name:token``
    pairs, comma-separated) as name → token. ValueError, naming the entry by its position and name
    but never showing a token, for a malformed entry, a name or a token given twice. Blank entries
    (a trailing comma) are ignored."""
    tokens: dict[str, str] = {}
    seen: dict[str, str] = {}
    for where, name, token in _pairs(text, variable, "name:token"):
        if not _OPERATOR_NAME.fullmatch(name):
            raise ValueError(
                f"{where}: the name must be 1 to 64 letters, digits, '.', '_', '-' or '@' (such as zhang.wei)"
            )
        where = f"{where} ({name})"
        if name == SHARED_OPS_NAME:
            raise ValueError(f"{where}: {SHARED_OPS_NAME} names the shared ops token, not a person")
        if not _OPERATOR_TOKEN.fullmatch(token):
            raise ValueError(
                f"{where}: the token must be 16 to 512 characters of A-Z, a-z, 0-9 and . _ ~ + / = -"
            )
        if name in tokens:
            raise ValueError(f"{where}: the name {name} is given twice")
        if token in seen:
            raise ValueError(
                f"{where}: the token is the same as {seen[token]}'s; every person needs their own"
            )
        tokens[name] = token
        seen[token] = name
    return tokens


# ``ODS_CALLBACK_SECRETS``: a party is ``postal`` or a seal shop's id (``SHOP-410502-01``).
_CALLBACK_PARTY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)


def parse_callback_secrets(text: str) -> dict[str, str]:
    """``ODS_CALLBACK_SECRETS`` (``party:secret`` pairs, comma-separated) as party → secret.
    ValueError, naming the entry by its position and party but never showing a secret, for a
    malformed entry, a party given twice or an empty secret."""
    secrets: dict[str, str] = {}
    for where, party, secret in _pairs(text, "ODS_CALLBACK_SECRETS", "party:secret"):
        if not secret:
            raise ValueError(f"{where} is not party:secret")
        if not _CALLBACK_PARTY.fullmatch(party):
            raise ValueError(
                f"{where}: the party must be postal or a seal shop's id (such as SHOP-410502-01)"
            )
        if party in secrets:
            raise ValueError(f"{where}: the party {party} is given twice")
        secrets[party] = secret
    return secrets


def parse_webhooks(text: str, variable: str) -> list[tuple[str, str | None]]:
    """``ODS_ALERT_WEBHOOKS`` / ``ODS_PORTAL_WEBHOOKS``: comma-separated entries, each a URL, or a
    URL, a space and that endpoint's own ``whsec_`` secret. ValueError naming the entry (never the
    secret) for anything else."""
    entries: list[tuple[str, str | None]] = []
    for position, entry in enumerate(text.split(","), start=1):
        words = entry.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and not words[1].startswith(WHSEC_PREFIX)):
            raise ValueError(
                f"{variable} entry {position} must be a URL, optionally followed by a space and whsec_…"
            )
        secret = words[1] if len(words) == 2 else None
        if secret is not None:
            try:
                webhook_key(secret)
            except ValueError as err:
                raise ValueError(f"{variable} entry {position}: {err}") from None
        entries.append((words[0], secret))
    return entries


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _holds_dev_codec_key(codec_keys: str) -> bool:
    """Whether any entry of ``ODS_CODEC_KEYS`` carries the dev key, whatever its id."""
    for entry in codec_keys.split(","):
        try:
            if base64.b64decode(entry.partition(":")[2].strip(), validate=True) == _DEV_CODEC_KEY:
                return True
        except (binascii.Error, ValueError):
            continue  # unusable entries are reported when the codec is made (infra/codec.py)
    return False


class Settings(BaseSettings):
    # hide_input_in_errors: a refusal names the variable, never echoes a token or secret.
    model_config = SettingsConfigDict(env_prefix="ODS_", extra="ignore", hide_input_in_errors=True)

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    temporal_tls: bool = False
    temporal_api_key: str | None = None
    # mTLS to Temporal (a self-hosted cluster behind a private CA, or an mTLS Cloud namespace):
    # the client's certificate and key (PEM files), the CA that signed the server's certificate,
    # and the name to check it against. Any of them turns TLS on.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    task_queue: str = "enterprise-setup"
    data_dir: Path = Path("var")
    database_url: str | None = None
    gateway_addr: str = "127.0.0.1:8000"
    sandbox_addr: str = "127.0.0.1:8100"
    # Where a worker serves the Temporal SDK's Prometheus metrics, IP:PORT; "0" for none (worker.py).
    worker_metrics_addr: str = "127.0.0.1:9464"
    # Which task queues ``python worker.py`` polls when no --role is given (worker.py).
    worker_role: Literal["all", "cases", "documents"] = "all"
    # Worker Versioning (docs/operations.md, releases): the Worker Deployment the workers belong to
    # and this release's build id; without a build id the workers are unversioned.
    worker_deployment: str = Field(default="one-day-setup", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    worker_build_id: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$")
    # How many cases a worker keeps in memory between their workflow tasks (the SDK's sticky
    # cache): each costs about 0.4 MB; a case not in it is replayed from its history when it wakes.
    worker_cached_cases: int = Field(default=1000, ge=1, le=100_000)
    # How long a stopping worker lets the activities in hand finish (worker.py): longer than the
    # longest of them (a partner call may take 75 s), so that a release cuts none short.
    worker_shutdown_s: float = Field(default=90.0, ge=1, le=3600)
    # How many calls to one partner a cases' worker has in flight at most (each partner has a
    # task queue and a worker pool of its own, domain/task_queues.py): a partner that hangs holds
    # this many slots, never those of the other partners or of the alerts.
    partner_concurrency: int = Field(default=10, ge=1, le=1000)
    partner_url: str = "http://127.0.0.1:8100"
    gateway_url: str = "http://127.0.0.1:8000"
    sla_policy: Path | None = None
    subsidy_policy: Path | None = None
    # How long closed cases are kept (domain/retention.py); applied by `starter.py setup-namespace`.
    retention_policy: Path | None = None
    portal_token: str = DEV_DEFAULTS["portal_token"]
    ops_token: str = DEV_DEFAULTS["ops_token"]
    alerts_token: str = DEV_DEFAULTS["alerts_token"]
    # Personal ops tokens, ``name:token`` pairs, comma-separated (``parse_operator_tokens``).
    operator_tokens: str = ""
    # Auditors' tokens, ``name:token`` pairs: they read the audit log (``GET /v1/audit``) and nothing else.
    auditor_tokens: str = ""
    # The master of the partners' callback secrets: a party ODS_CALLBACK_SECRETS names no secret
    # for signs with one derived from it (``infra.signing.callback_key``).
    callback_secret: str = DEV_DEFAULTS["callback_secret"]
    # ``party:secret`` pairs (``parse_callback_secrets``): a partner's (or a seal shop's) own secret.
    callback_secrets: str = ""
    # Signs the alert webhooks (endpoints without a secret of their own).
    webhook_secret: str = DEV_DEFAULTS["webhook_secret"]
    session_secret: str = DEV_DEFAULTS["session_secret"]
    # Signs the portal push (endpoints without a secret of their own); empty: ODS_WEBHOOK_SECRET,
    # refused when exposed (an alert subscriber could then forge a portal push).
    portal_webhook_secret: str = ""
    # Comma-separated entries, each ``URL`` or ``URL whsec_…`` (``parse_webhooks``).
    alert_webhooks: str = ""
    # The same, for the portal's status push (docs/operations.md, workflows/portal_push.py).
    portal_webhooks: str = ""
    codec_keys: str = DEV_DEFAULTS["codec_keys"]
    # Empty: http://127.0.0.1:<temporal_ui_port>, the embedded Web UI.
    ui_origin: str = ""
    env: str = Field(default="dev", pattern="^(dev|test|production)$")
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")

    @model_validator(mode="after")
    def _resolve_ui_origin(self) -> Settings:
        origin = self.ui_origin.strip().rstrip("/") or f"http://127.0.0.1:{self.temporal_ui_port}"
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"ODS_UI_ORIGIN must be the Web UI's origin, scheme://host[:port] without a path "
                f"(e.g. http://127.0.0.1:8233), not {self.ui_origin!r}"
            )
        self.ui_origin = origin
        return self

    @model_validator(mode="after")
    def _check_temporal_tls(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("ODS_TEMPORAL_TLS_CERT and ODS_TEMPORAL_TLS_KEY go together (mTLS)")
        for name in ("temporal_tls_cert", "temporal_tls_key", "temporal_tls_ca"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"ODS_{name.upper()}: no file {path}")
        return self

    @model_validator(mode="after")
    def _check_codec_keys(self) -> Settings:
        # Unusable keys stop a process at start with the reason, not at the first payload.
        from infra.codec import parse_codec_keys  # imported here: ``cryptography`` stays out of workflows

        parse_codec_keys(self.codec_keys)
        return self

    @model_validator(mode="after")
    def _check_operator_tokens(self) -> Settings:
        # Refused at start, with the reason, rather than a token that opens nothing or too much.
        personal = parse_operator_tokens(self.operator_tokens)
        for name, token in personal.items():
            for field, variable in _ROLE_TOKENS.items():
                if token == getattr(self, field):
                    raise ValueError(
                        f"ODS_OPERATOR_TOKENS: {name}'s token is the same as {variable}; a personal "
                        "token must be a token of its own"
                    )
        # An auditor's token opens the audit log only: one that opened anything else too is refused.
        others = {getattr(self, field): variable for field, variable in _ROLE_TOKENS.items()}
        others |= {token: f"ODS_OPERATOR_TOKENS ({name})" for name, token in personal.items()}
        for name, token in self.auditor_token_map.items():
            if token in others:
                raise ValueError(
                    f"ODS_AUDITOR_TOKENS: {name}'s token is the same as {others[token]}; an auditor's "
                    "token must be a token of its own"
                )
        return self

    @model_validator(mode="after")
    def _check_party_secrets(self) -> Settings:
        parse_callback_secrets(self.callback_secrets)
        parse_webhooks(self.alert_webhooks, "ODS_ALERT_WEBHOOKS")
        parse_webhooks(self.portal_webhooks, "ODS_PORTAL_WEBHOOKS")
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.env == "production":
            still_dev = [
                f"ODS_{name.upper()}"
                for name, dev in DEV_DEFAULTS.items()
                if getattr(self, name) == dev
                or (name == "codec_keys" and _holds_dev_codec_key(self.codec_keys))
            ]
            if still_dev:
                raise ValueError(
                    "ODS_ENV=production refuses to start while these are still their dev defaults: "
                    + ", ".join(still_dev)
                )
        return self

    @model_validator(mode="after")
    def _refuse_weak_settings_when_exposed(self) -> Settings:
        """In production, or with a listener on an address other than loopback, every secret must
        be a real one and nothing may travel in the clear (CONTRACT section 11)."""
        why = self.exposure
        if why is None:
            return self
        problems: list[str] = []
        secrets = {f"ODS_{n.upper()}": getattr(self, n) for n in _SECRETS}
        secrets |= {f"ODS_OPERATOR_TOKENS ({n})": t for n, t in self.personal_ops_tokens.items()}
        secrets |= {f"ODS_AUDITOR_TOKENS ({n})": t for n, t in self.auditor_token_map.items()}
        secrets |= {f"ODS_CALLBACK_SECRETS ({p})": s for p, s in self.party_callback_secrets.items()}
        problems += self._webhook_secrets_problems(secrets)
        seen: dict[str, str] = {}
        for variable, value in secrets.items():
            if value in DEV_DEFAULTS.values():
                problems.append(f"{variable} is a dev default")
            elif len(value) < MIN_SECRET_LENGTH:
                problems.append(f"{variable} is shorter than {MIN_SECRET_LENGTH} characters")
            elif value in seen:
                problems.append(f"{variable} is the same as {seen[value]}")
            seen.setdefault(value, variable)
        urls = {"ODS_PARTNER_URL": [self.partner_url], "ODS_GATEWAY_URL": [self.gateway_url]}
        urls["ODS_ALERT_WEBHOOKS"] = self.alert_webhook_urls
        urls["ODS_PORTAL_WEBHOOKS"] = self.portal_webhook_urls
        for variable, values in urls.items():
            for url in values:
                host = _host(url)
                if url.startswith("http://") and not _is_loopback(host):
                    problems.append(f"{variable} sends in the clear to {host} (use https://)")
        temporal_tls = bool(
            self.temporal_tls or self.temporal_api_key or self.temporal_tls_cert or self.temporal_tls_ca
        )
        if not temporal_tls and not _is_loopback(self.temporal_address):
            problems.append(
                "ODS_TEMPORAL_ADDRESS is not on loopback and has no TLS "
                "(ODS_TEMPORAL_TLS, ODS_TEMPORAL_TLS_*)"
            )
        if problems:
            raise ValueError(f"{why}: refused to start: " + "; ".join(problems))
        return self

    def _webhook_secrets_problems(self, secrets: dict[str, str]) -> list[str]:
        """Adds each webhook endpoint's own secret to ``secrets`` (checked with the others); what is
        wrong with the rest: every endpoint needs a secret no other endpoint has."""
        problems: list[str] = []
        fallbacks = {
            "ODS_ALERT_WEBHOOKS": "ODS_WEBHOOK_SECRET",
            "ODS_PORTAL_WEBHOOKS": "ODS_PORTAL_WEBHOOK_SECRET",
        }
        for variable, fallback in fallbacks.items():
            entries = parse_webhooks(getattr(self, variable.removeprefix("ODS_").lower()), variable)
            secrets |= {f"{variable} ({_host(url)})": own for url, own in entries if own is not None}
            sharing = [url for url, own in entries if own is None]
            if len(sharing) > 1:
                problems.append(
                    f"{variable}: {len(sharing)} URLs share {fallback}; give each its own (URL whsec_…)"
                )
        if self.portal_webhook_secret:
            secrets["ODS_PORTAL_WEBHOOK_SECRET"] = self.portal_webhook_secret
        elif any(own is None for _, own in parse_webhooks(self.portal_webhooks, "ODS_PORTAL_WEBHOOKS")):
            problems.append(
                "ODS_PORTAL_WEBHOOK_SECRET is empty: the portal push would be signed with "
                "ODS_WEBHOOK_SECRET, which the alert subscribers hold"
            )
        return problems

    @property
    def exposure(self) -> str | None:
        """Why every secret must be a real one (production, or a listener off loopback); None in dev."""
        if self.env == "production":
            return "ODS_ENV=production"
        exposed = [f"ODS_{n.upper()}" for n in _LISTENERS if not _is_loopback(getattr(self, n))]
        return f"{', '.join(exposed)} not on loopback" if exposed else None

    @property
    def party_callback_secrets(self) -> dict[str, str]:
        """``ODS_CALLBACK_SECRETS``, party → secret."""
        return parse_callback_secrets(self.callback_secrets)

    @staticmethod
    def is_callback_party(party: str) -> bool:
        """Whether ``party`` may name a callback's signer (``postal``, a seal shop's id)."""
        return bool(_CALLBACK_PARTY.fullmatch(party))

    def callback_secret_of(self, party: str) -> str:
        """The secret ``party`` (``postal``, or a seal shop's id) signs its callbacks with: its own
        from ``ODS_CALLBACK_SECRETS``, else one derived from ``ODS_CALLBACK_SECRET``."""
        own = self.party_callback_secrets.get(party)
        return own if own is not None else callback_key(self.callback_secret, party)

    def webhook_secret_of(self, kind: Literal["alert", "portal"], url: str) -> str:
        """The secret a webhook to ``url`` is signed with: the endpoint's own, else its kind's
        (``ODS_WEBHOOK_SECRET`` for alerts; ``ODS_PORTAL_WEBHOOK_SECRET``, or when that is empty
        ``ODS_WEBHOOK_SECRET``, for the portal push). A URL no longer listed (a case started before
        it was removed) gets its kind's."""
        text, variable = (
            (self.alert_webhooks, "ODS_ALERT_WEBHOOKS")
            if kind == "alert"
            else (self.portal_webhooks, "ODS_PORTAL_WEBHOOKS")
        )
        for listed, own in parse_webhooks(text, variable):
            if listed == url and own is not None:
                return own
        if kind == "portal" and self.portal_webhook_secret:
            return self.portal_webhook_secret
        return self.webhook_secret

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir}/ods.db"

    @property
    def personal_ops_tokens(self) -> dict[str, str]:
        """The personal ops tokens, name → token (parsed anew: a ``model_copy`` keeps it current)."""
        return parse_operator_tokens(self.operator_tokens)

    @property
    def auditor_token_map(self) -> dict[str, str]:
        """The auditors' tokens, name → token (``ODS_AUDITOR_TOKENS``)."""
        return parse_operator_tokens(self.auditor_tokens, "ODS_AUDITOR_TOKENS")

    @property
    def alert_webhook_urls(self) -> list[str]:
        """The URLs of ``ODS_ALERT_WEBHOOKS``, without their secrets (these stay in the settings)."""
        return [url for url, _ in parse_webhooks(self.alert_webhooks, "ODS_ALERT_WEBHOOKS")]

    @property
    def portal_webhook_urls(self) -> list[str]:
        """The URLs of ``ODS_PORTAL_WEBHOOKS``, without their secrets: a case keeps these in its
        input (its history), so a secret must never be among them."""
        return [url for url, _ in parse_webhooks(self.portal_webhooks, "ODS_PORTAL_WEBHOOKS")]

    @staticmethod
    def split_addr(addr: str) -> tuple[str, int]:
        host, _, port = addr.rpartition(":")
        return host or "127.0.0.1", int(port)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
