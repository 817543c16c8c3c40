"""``make up`` and ``make temporal`` point the dev server's Web UI at the gateway's codec endpoint."""

from __future__ import annotations

from devstack.temporal_server import temporal_server_command
from infra.settings import Settings


def test_the_dev_servers_web_ui_decodes_through_the_gateway() -> None:
    command = temporal_server_command(Settings(gateway_url="http://127.0.0.1:9000/"))
    at = command.index("--ui-codec-endpoint")
    assert command[at + 1] == "http://127.0.0.1:9000/codec"
    assert temporal_server_command(Settings())[at + 1] == "http://127.0.0.1:8000/codec"
