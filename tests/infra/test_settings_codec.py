"""ODS_CODEC_KEYS and ODS_UI_ORIGIN in the settings: production refuses the public dev key."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import ValidationError

from infra.settings import DEV_DEFAULTS, Settings

REAL = {name: f"real-{name}-value".ljust(32, "x") for name in DEV_DEFAULTS} | {
    "codec_keys": f"prod-1:{base64.b64encode(os.urandom(32)).decode()}"
}
DEV_KEY = DEV_DEFAULTS["codec_keys"].partition(":")[2]


def test_the_dev_default_is_one_key_with_id_dev() -> None:
    assert Settings().codec_keys == DEV_DEFAULTS["codec_keys"]
    assert DEV_DEFAULTS["codec_keys"].startswith("dev:")
    assert len(base64.b64decode(DEV_KEY)) == 32


def test_production_refuses_the_dev_codec_key_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="ODS_CODEC_KEYS"):
        Settings(env="production", **(REAL | {"codec_keys": DEV_DEFAULTS["codec_keys"]}))


@pytest.mark.parametrize(
    "keys",
    [f"{REAL['codec_keys']},dev:{DEV_KEY}", f"renamed:{DEV_KEY}"],
    ids=["beside-a-real-key", "renamed"],  # not the keys: a random one differs from run to run
)
def test_production_refuses_the_dev_key_anywhere_under_any_id(keys: str) -> None:
    with pytest.raises(ValidationError, match="ODS_CODEC_KEYS"):
        Settings(env="production", **(REAL | {"codec_keys": keys}))


def test_production_with_a_real_codec_key_starts() -> None:
    assert Settings(env="production", **REAL).codec_keys == REAL["codec_keys"]


def test_the_ui_origin_defaults_to_the_embedded_web_ui() -> None:
    assert Settings().ui_origin == "http://127.0.0.1:8233"
    assert Settings(temporal_ui_port=9233).ui_origin == "http://127.0.0.1:9233"
    assert Settings(ui_origin="https://temporal-ui.example.gov.cn/").ui_origin == (
        "https://temporal-ui.example.gov.cn"
    )


@pytest.mark.parametrize("origin", ["*", "http://ui.example/path", "ui.example:8233", "ftp://ui"])
def test_a_ui_origin_that_is_not_an_origin_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError, match="ODS_UI_ORIGIN"):
        Settings(ui_origin=origin)


def test_the_environment_sets_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODS_CODEC_KEYS", REAL["codec_keys"])
    monkeypatch.setenv("ODS_UI_ORIGIN", "http://10.0.0.5:8233")
    settings = Settings()
    assert settings.codec_keys == REAL["codec_keys"]
    assert settings.ui_origin == "http://10.0.0.5:8233"
