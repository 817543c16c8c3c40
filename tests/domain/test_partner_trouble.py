"""How an operator is told what is wrong with a partner past the patience (domain/partner_trouble.py)."""

from __future__ import annotations

import pytest

from domain.partner_trouble import PartnerTrouble, trouble_words


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, "http", "the tax bureau refuses our credentials (401)"),
        (403, "http", "the tax bureau refuses us access (403)"),
        (404, "http", "the tax bureau does not find what we call (404)"),
        (408, "http", "the tax bureau times out our requests (408)"),
        (409, "http", "the tax bureau answers with a conflict it does not document (409)"),
        (429, "http", "the tax bureau asks us to slow down (429)"),
        (502, "http", "the tax bureau is failing (502)"),
        (418, "http", "the tax bureau answers 418"),
        (None, "timeout", "the tax bureau does not answer in time"),
        (None, "unreachable", "the tax bureau cannot be reached"),
        (None, "transport", "the tax bureau breaks off the connection"),
    ],
)
def test_the_words_name_the_partner_and_what_it_answers(status: int | None, kind: str, words: str) -> None:
    trouble = PartnerTrouble.model_validate({"status": status, "kind": kind, "attempts": 3})
    assert trouble_words("the tax bureau", trouble) == words
