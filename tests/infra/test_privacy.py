"""No ID number or phone reaches a log line: the masking processor, and the real logging setup."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from infra.privacy import mask_personal_data, mask_text
from tests import factories


@given(seed=st.integers(0, 2**32), prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_any_resident_id_number_in_any_text_is_masked(seed: int, prefix: str, suffix: str) -> None:
    id_number = factories.resident_id(rng=random.Random(seed))
    # Glued to other letters or digits it would be part of another token; apart from them, masked.
    text = f"{prefix} {id_number} {suffix}"
    masked = mask_text(text)
    assert id_number not in masked
    assert f"{id_number[:6]}********{id_number[-4:]}" in masked


@given(number=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_any_mainland_mobile_number_is_masked(number: str) -> None:
    masked = mask_text(f"call {number}, thanks")
    assert number not in masked and f"{number[:3]}****{number[-4:]}" in masked


def test_what_is_not_personal_stays_readable() -> None:
    uscc = factories.uscc()
    text = f"USCC {uscc}, waybill EA123456789CN, at 1764581234567 ms, order SO-000123"
    assert mask_text(text) == text


def test_nested_fields_are_masked() -> None:
    event = {"event": "x", "people": [{"phone": "13812345678"}], "pair": ("13912345678", 3)}
    masked = mask_personal_data(None, "info", event)
    assert masked["people"] == [{"phone": "138****5678"}]
    assert masked["pair"] == ("139****5678", 3)


def test_the_real_logging_setup_masks_our_lines_library_lines_and_tracebacks() -> None:
    id_number = factories.resident_id()
    script = f"""
import logging
from infra.logging import configure_logging, get_logger
configure_logging("json")
log = get_logger("ods.test")
log.info("filed for {id_number}", phone="13812345678", detail={{"id": "{id_number}"}})
logging.getLogger("temporalio.activity").warning("failed: %s", "{id_number} 13912345678")
try:
    raise ValueError("bad id {id_number}")
except ValueError:
    log.exception("boom")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert len(lines) == 3, done.stderr
    assert id_number not in done.stderr
    assert "13812345678" not in done.stderr and "13912345678" not in done.stderr
    assert lines[0]["phone"] == "138****5678"
    assert f"{id_number[:6]}********{id_number[-4:]}" in lines[1]["event"]
    assert "ValueError: bad id" in lines[2]["exception"]
