"""The one settings object: every ``ODS_*`` variable (the README's configuration table)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DEFAULTS = {
    "portal_token": "dev-portal-token",
    "ops_token": "dev-ops-token",
    "alerts_token": "dev-alerts-token",
    "callback_secret": "dev-callback-secret",
    "webhook_secret": "dev-webhook-secret",
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
_ROLE_TOKENS = {
    "portal_token": "ODS_PORTAL_TOKEN",
    "ops_token": "ODS_OPS_TOKEN",
    "alerts_token": "ODS_ALERTS_TOKEN",
}


# Secrets that must be real ones when the service is exposed (``_refuse_weak_settings_when_exposed``).
_SECRETS = ("portal_token", "ops_token", "alerts_token", "callback_secret", "webhook_secret")
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


def parse_operator_tokens(text: str) -> dict[str, str]:
    """``ODS_OPERATOR_TOKENS`` (``name:token`` pairs, comma-separated) as name → token. ValueError,
    naming the entry by its position and name but never showing a token, for a malformed entry, a
    name or a token given twice. Blank entries (a trailing comma) are ignored."""
    tokens: dict[str, str] = {}
    seen: dict[str, str] = {}
    for position, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        name, colon, token = (part.strip() for part in entry.partition(":"))
        where = f"ODS_OPERATOR_TOKENS entry {position}"
        if not colon:
            raise ValueError(f"{where} is not name:token")
        if not _OPERATOR_NAME.fullmatch(name):
            raise ValueError(
                f"{where}: the name must be 1 to 64 letters, digits, '.', '_', '-' or '@' (such as zhang.wei)"
            )
        where = f"{where} ({name})"
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
    callback_secret: str = DEV_DEFAULTS["callback_secret"]
    webhook_secret: str = DEV_DEFAULTS["webhook_secret"]
    alert_webhooks: str = ""
    # Comma-separated URLs of the portal's status push (docs/operations.md, workflows/portal_push.py).
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
        exposed = [f"ODS_{n.upper()}" for n in _LISTENERS if not _is_loopback(getattr(self, n))]
        if self.env != "production" and not exposed:
            return self
        why = "ODS_ENV=production" if self.env == "production" else f"{', '.join(exposed)} not on loopback"
        problems: list[str] = []
        secrets = {f"ODS_{n.upper()}": getattr(self, n) for n in _SECRETS}
        secrets |= {f"ODS_OPERATOR_TOKENS ({n})": t for n, t in self.personal_ops_tokens.items()}
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
        urls["ODS_PORTAL_WEBHOOKS"] = [u.strip() for u in self.portal_webhooks.split(",") if u.strip()]
        for variable, values in urls.items():
            for url in values:
                host = url.split("://", 1)[-1].split("/", 1)[0]
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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir}/ods.db"

    @property
    def personal_ops_tokens(self) -> dict[str, str]:
        """The personal ops tokens, name → token (parsed anew: a ``model_copy`` keeps it current)."""
        return parse_operator_tokens(self.operator_tokens)

    @property
    def alert_webhook_urls(self) -> list[str]:
        return [u.strip() for u in self.alert_webhooks.split(",") if u.strip()]

    @property
    def portal_webhook_urls(self) -> list[str]:
        return [u.strip() for u in self.portal_webhooks.split(",") if u.strip()]

    @staticmethod
    def split_addr(addr: str) -> tuple[str, int]:
        host, _, port = addr.rpartition(":")
        return host or "127.0.0.1", int(port)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
