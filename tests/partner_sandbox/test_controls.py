"""The sandbox controls (docs/partner-api.md, "Sandbox controls"): behaviour, effects, reset."""

from __future__ import annotations

import httpx
import pytest

from tests.partner_sandbox.conftest import effects
from tests.partner_sandbox.samples import filing, idem


@pytest.mark.parametrize(
    "change",
    [
        {"registration": {"latency_s": 31}},
        {"tax": {"error_rate": 1.5}},
        {"seal_shop": {"carving_s": -1}},
        {"seal_shop": {"hold": 1}},
        {"postal": {"collect_after_s": "soon"}},
        {"postal": {"speed": 2}},
        {"postal": {"hold": "true"}},
        {"bank": {"latency_s": 31}},
        {"social_insurance": {"error_rate": -0.1}},
        {"housing_fund": {"hold": True}},
        {"notary": {"latency_s": 1}},
        [1, 2],
    ],
)
async def test_a_behaviour_out_of_range_or_unknown_is_422_and_changes_nothing(
    partner: httpx.AsyncClient, change: object
) -> None:
    before = (await partner.get("/_sandbox/behaviour")).json()

    answer = await partner.put("/_sandbox/behaviour", json=change)

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_behaviour"
    assert (await partner.get("/_sandbox/behaviour")).json() == before


async def test_a_behaviour_change_merges_into_the_whole(partner: httpx.AsyncClient) -> None:
    answer = await partner.put("/_sandbox/behaviour", json={"seal_shop": {"latency_s": 2}})

    whole = answer.json()
    assert answer.status_code == 200
    assert whole["seal_shop"] == {
        "latency_s": 2,
        "error_rate": 0,
        "faults": None,
        "hang_s": 0,
        "carving_s": 0.05,
        "hold": False,
    }
    assert whole["postal"]["collect_after_s"] == 0.05
    assert set(whole) == {
        "registration",
        "seal_shop",
        "tax",
        "postal",
        "social_insurance",
        "housing_fund",
        "bank",
    }
    assert (
        whole["bank"]
        == whole["social_insurance"]
        == whole["housing_fund"]
        == {"latency_s": 0, "error_rate": 0, "faults": None, "hang_s": 0}
    )


async def test_reset_forgets_everything(partner: httpx.AsyncClient) -> None:
    key = idem()
    await partner.post("/registration/v1/filings", json=filing(), headers=key)

    await partner.post("/_sandbox/reset")

    assert await effects(partner, "registration") == {"requests": 0, "effects": 0}
    behaviour = (await partner.get("/_sandbox/behaviour")).json()
    assert behaviour["seal_shop"]["carving_s"] == 1
    fresh = await partner.post("/registration/v1/filings", json=filing(), headers=key)
    assert "Idempotent-Replayed" not in fresh.headers
    assert await effects(partner, "registration") == {"requests": 1, "effects": 1}


async def test_unknown_paths_answer_in_the_partner_error_format(
    partner: httpx.AsyncClient,
) -> None:
    answer = await partner.get("/registration/v1/filings/REG-NOPE")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
