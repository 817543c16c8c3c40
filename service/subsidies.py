"""The subsidy ledger's monthly statement of one seal shop, as the finance office's PDF."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from store.subsidies import ShopStatement

# The statement renderer: documents.render.subsidy_statement(documents.models.SubsidyStatementData) -> bytes.
RENDERER_MODULE = "documents.render"
RENDERER_FUNCTION = "subsidy_statement"


def statement_renderer() -> Callable[[ShopStatement], bytes] | None:
    """The PDF renderer of the ``documents`` package, fed the statement in its own model; None when
    that package (or its function) is not installed."""
    try:
        render = importlib.import_module(RENDERER_MODULE)
        models = importlib.import_module("documents.models")
    except ImportError:
        return None
    function = getattr(render, RENDERER_FUNCTION, None)
    if function is None:
        return None

    def rendered(statement: ShopStatement) -> bytes:
        data = models.SubsidyStatementData(
            month=statement.month,
            shop_id=statement.shop_id,
            shop_name=statement.shop_name,
            entries=[
                models.StatementEntry(
                    grant_id=e.grant_id,
                    enterprise_name=e.enterprise_name,
                    uscc=e.uscc,
                    seals=e.covered_seals,
                    amount_cny=e.amount_cny,
                    settled_at=e.settled_at,
                )
                for e in statement.entries
            ],
            total_cny=statement.total_cny,
            generated_at=statement.generated_at,
        )
        return bytes(function(data))

    return rendered
