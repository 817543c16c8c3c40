"""The masking of free text that is passed on (a partner's words, an operator's note): landlines
written with their area code apart, and the note and reason of an operator's action."""

from __future__ import annotations

import pytest

from domain.actions import parse_action
from domain.privacy import mask_text


@pytest.mark.parametrize(
    "text,masked",
    [
        ("电话0372-2345678", "电话0372-***5678"),
        ("(0372)23456789", "(0372)****6789"),
        ("tel 010 12345678.", "tel 010 ****5678."),
    ],
)
def test_a_landline_with_its_area_code_apart_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_a_bare_run_of_digits_is_no_landline() -> None:
    text = "order 03722345678, waybill EA123456789CN, at 2026-11-27 10:00"
    assert mask_text(text) == text


def test_an_operators_note_and_reason_are_masked_as_they_are_read() -> None:
    action = parse_action(
        {
            "action": "reject",
            "operator": "王敏",
            "reason": "经营者 410502199003071234 未到店",
            "note": "13812345678",
        }
    ).root
    assert action.reason == "经营者 410502********1234 未到店"
    assert action.note == "138****5678"
