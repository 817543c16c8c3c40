"""``python -m partner_sandbox``: the sandbox in the foreground at ``ODS_SANDBOX_ADDR``."""

from __future__ import annotations

from infra.logging import configure_logging, get_logger
from infra.serving import run_foreground
from infra.settings import get_settings
from partner_sandbox.app import create_app


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format)
    get_logger("partner_sandbox").info(
        "partner_sandbox_starting", addr=settings.sandbox_addr, env=settings.env
    )
    run_foreground(create_app(settings), settings.sandbox_addr)


if __name__ == "__main__":
    main()
