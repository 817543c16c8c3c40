"""ODS_ENV=production refuses dev secrets: the settings and every entry point say which."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings import DEV_DEFAULTS, Settings

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {f"ODS_{name.upper()}" for name in DEV_DEFAULTS}
STRONG_CODEC_KEYS = "k2026:" + base64.b64encode(bytes(range(32))).decode()


def test_production_with_dev_secrets_is_refused_naming_each_variable() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(env="production", portal_token="a-real-portal-token")
    message = str(refused.value)
    assert "ODS_PORTAL_TOKEN" not in message
    assert all(name in message for name in SECRETS - {"ODS_PORTAL_TOKEN"})


def test_production_with_real_secrets_starts() -> None:
    real = {name: f"real-{name}-value".ljust(32, "x") for name in DEV_DEFAULTS}
    real["codec_keys"] = STRONG_CODEC_KEYS
    assert Settings(env="production", **real).env == "production"


@pytest.mark.parametrize("command", [["worker.py"], ["-m", "gateway"], ["-m", "partner_sandbox"]])
def test_each_part_refuses_to_start_in_production_with_dev_secrets(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {"ODS_ENV": "production", "ODS_TEMPORAL_ADDRESS": "127.0.0.1:1", "ODS_SANDBOX_ADDR": "127.0.0.1:0"}
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "ODS_CALLBACK_SECRET" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("keys", ["dev", "k1:not-base64!", "k1:" + base64.b64encode(b"short").decode()])
def test_unusable_codec_keys_stop_the_worker_at_start_with_the_reason(keys: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {"ODS_CODEC_KEYS": keys, "ODS_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "ODS_CODEC_KEYS" in done.stderr or "codec" in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr, done.stderr


STRONG = {
    "portal_token": "p" * 40,
    "ops_token": "o" * 40,
    "alerts_token": "a" * 40,
    "callback_secret": "c" * 40,
    "webhook_secret": "w" * 40,
    "session_secret": "s" * 40,
}


def test_a_listener_off_loopback_refuses_dev_secrets_without_odsenv() -> None:
    with pytest.raises(ValueError, match="ODS_GATEWAY_ADDR not on loopback") as refused:
        Settings(gateway_addr="0.0.0.0:8000")
    assert "ODS_OPS_TOKEN is a dev default" in str(refused.value)


@pytest.mark.parametrize(
    "change,named",
    [
        ({"ops_token": ""}, "ODS_OPS_TOKEN is shorter than 32 characters"),
        ({"ops_token": "x"}, "ODS_OPS_TOKEN is shorter than 32 characters"),
        ({"portal_token": "o" * 40}, "ODS_OPS_TOKEN is the same as ODS_PORTAL_TOKEN"),
        ({"webhook_secret": "c" * 40}, "ODS_WEBHOOK_SECRET is the same as ODS_CALLBACK_SECRET"),
        ({"partner_url": "http://partners.example.cn"}, "ODS_PARTNER_URL sends in the clear"),
        ({"temporal_address": "temporal.internal:7233"}, "ODS_TEMPORAL_ADDRESS is not on loopback"),
    ],
)
def test_production_refuses_weak_secrets_clear_urls_and_temporal_without_tls(
    change: dict[str, str], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        Settings(env="production", codec_keys=STRONG_CODEC_KEYS, **(STRONG | change))


def test_production_with_temporal_off_loopback_over_tls_and_https_partners_starts() -> None:
    Settings(
        env="production",
        codec_keys=STRONG_CODEC_KEYS,
        temporal_address="temporal.internal:7233",
        temporal_tls=True,
        partner_url="https://partners.example.cn",
        **STRONG,
    )
