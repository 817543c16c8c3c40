"""``python -m partner_sandbox``: the sandbox in the foreground at ``ODS_SANDBOX_ADDR``."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from infra.logging import configure_logging, get_logger
from infra.serving import run_foreground
from infra.settings import get_settings
from partner_sandbox.app import create_app


def main() -> int:
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"partner_sandbox: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    get_logger("partner_sandbox").info(
        "partner_sandbox_starting", addr=settings.sandbox_addr, env=settings.env
    )
    run_foreground(create_app(settings), settings.sandbox_addr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
