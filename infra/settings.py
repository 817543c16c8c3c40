"""The one settings object: every ``ODS_*`` variable (the README's configuration table)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DEFAULTS = {
    "portal_token": "dev-portal-token",
    "ops_token": "dev-ops-token",
    "alerts_token": "dev-alerts-token",
    "callback_secret": "dev-callback-secret",
    "webhook_secret": "dev-webhook-secret",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ODS_", extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    temporal_tls: bool = False
    temporal_api_key: str | None = None
    task_queue: str = "enterprise-setup"
    data_dir: Path = Path("var")
    database_url: str | None = None
    gateway_addr: str = "127.0.0.1:8000"
    sandbox_addr: str = "127.0.0.1:8100"
    partner_url: str = "http://127.0.0.1:8100"
    gateway_url: str = "http://127.0.0.1:8000"
    sla_policy: Path | None = None
    subsidy_policy: Path | None = None
    portal_token: str = DEV_DEFAULTS["portal_token"]
    ops_token: str = DEV_DEFAULTS["ops_token"]
    alerts_token: str = DEV_DEFAULTS["alerts_token"]
    callback_secret: str = DEV_DEFAULTS["callback_secret"]
    webhook_secret: str = DEV_DEFAULTS["webhook_secret"]
    alert_webhooks: str = ""
    env: str = Field(default="dev", pattern="^(dev|test|production)$")
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.env == "production":
            still_dev = [
                f"ODS_{name.upper()}" for name, dev in DEV_DEFAULTS.items() if getattr(self, name) == dev
            ]
            if still_dev:
                raise ValueError(
                    "ODS_ENV=production refuses to start while these are still their dev defaults: "
                    + ", ".join(still_dev)
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir}/ods.db"

    @property
    def alert_webhook_urls(self) -> list[str]:
        return [u.strip() for u in self.alert_webhooks.split(",") if u.strip()]

    @staticmethod
    def split_addr(addr: str) -> tuple[str, int]:
        host, _, port = addr.rpartition(":")
        return host or "127.0.0.1", int(port)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
