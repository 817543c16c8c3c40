"""Idempotency keys and outages: retrying with the same key never repeats an effect."""

from __future__ import annotations

import httpx

from tests.partner_sandbox.conftest import effects
from tests.partner_sandbox.samples import allotment, filing, idem

FILINGS = "/registration/v1/filings"


async def test_the_same_key_and_body_get_the_first_answer_byte_for_byte_and_no_new_licence(
    partner: httpx.AsyncClient,
) -> None:
    key = idem()
    first = await partner.post(FILINGS, json=filing(), headers=key)
    again = await partner.post(FILINGS, json=filing(), headers=key)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await effects(partner, "registration") == {"requests": 2, "effects": 1}


async def test_the_same_key_with_another_body_is_409(partner: httpx.AsyncClient) -> None:
    key = idem()
    await partner.post(FILINGS, json=filing(), headers=key)
    other = await partner.post(FILINGS, json=filing("安阳市和顺餐饮有限公司"), headers=key)

    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await effects(partner, "registration") == {"requests": 2, "effects": 1}


async def test_a_call_with_an_effect_needs_a_key_and_keys_belong_to_one_partner(
    partner: httpx.AsyncClient,
) -> None:
    missing = await partner.post(FILINGS, json=filing())
    key = idem()
    licence = await partner.post(FILINGS, json=filing(), headers=key)
    invoices = await partner.post("/tax/v1/invoice-allotments", json=allotment(), headers=key)

    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    assert licence.status_code == 201
    assert invoices.status_code == 201
    assert await effects(partner, "tax") == {"requests": 1, "effects": 1}


async def test_a_partner_that_is_always_down_answers_503(partner: httpx.AsyncClient) -> None:
    await partner.put("/_sandbox/behaviour", json={"tax": {"error_rate": 1}})

    answer = await partner.post("/tax/v1/invoice-allotments", json=allotment(), headers=idem())

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"


async def test_a_partner_down_half_the_time_still_makes_one_licence_per_key_when_retried(
    partner: httpx.AsyncClient,
) -> None:
    await partner.put("/_sandbox/behaviour", json={"registration": {"error_rate": 0.5}})
    outages = 0
    usccs = set()
    for n in range(12):
        key = idem()
        body = filing(application_id=f"AY20261127-{n:04d}")
        while (answer := await partner.post(FILINGS, json=body, headers=key)).status_code == 503:
            outages += 1
        assert answer.status_code == 201
        usccs.add(answer.json()["licence"]["uscc"])

    counts = await effects(partner, "registration")
    assert outages > 0
    assert counts == {"requests": 12 + outages, "effects": 12}
    assert len(usccs) == 12


async def test_retrying_without_the_key_after_a_lost_answer_duplicates_the_effect(
    partner: httpx.AsyncClient,
) -> None:
    """Why callers must keep their key: half of the 503s come after the licence was issued."""
    await partner.put("/_sandbox/behaviour", json={"registration": {"error_rate": 0.5}})
    for _ in range(12):
        while (await partner.post(FILINGS, json=filing(), headers=idem())).status_code == 503:
            pass

    assert (await effects(partner, "registration"))["effects"] > 12


async def test_latency_delays_the_answer(partner: httpx.AsyncClient) -> None:
    await partner.put("/_sandbox/behaviour", json={"tax": {"latency_s": 0.3}})

    answer = await partner.post("/tax/v1/invoice-allotments", json=allotment(), headers=idem())

    assert answer.status_code == 201
    assert answer.elapsed.total_seconds() >= 0.3
