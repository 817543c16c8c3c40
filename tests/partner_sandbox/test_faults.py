"""Partner faults (docs/partner-api.md, "Sandbox controls"): a partner answering every call with
one status for a while, with or without ``Retry-After``, and a partner holding its answers."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import eventually
from tests.partner_sandbox.conftest import effects
from tests.partner_sandbox.samples import allotment, filing, idem

FILINGS = "/registration/v1/filings"


async def test_a_fault_answers_every_call_with_its_status_and_does_nothing(
    partner: httpx.AsyncClient,
) -> None:
    await partner.put("/_sandbox/behaviour", json={"registration": {"faults": {"status": 401, "for_s": 600}}})
    key = idem()

    filed = await partner.post(FILINGS, json=filing(), headers=key)
    read = await partner.get("/registration/v1/filings/REG-ANY")
    unkeyed = await partner.post(FILINGS, json=filing())

    for answer in (filed, read, unkeyed):
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert "Retry-After" not in answer.headers
    assert await effects(partner, "registration") == {"requests": 3, "effects": 0}
    # The other partners are not touched.
    other = await partner.post("/tax/v1/invoice-allotments", json=allotment(), headers=idem())
    assert other.status_code == 201

    # Nothing was stored under the key: once the fault ends, the same key does the work.
    ended = await partner.put("/_sandbox/behaviour", json={"registration": {"faults": None}})
    assert ended.json()["registration"]["faults"] is None
    again = await partner.post(FILINGS, json=filing(), headers=key)
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert await effects(partner, "registration") == {"requests": 4, "effects": 1}


async def test_a_fault_sends_retry_after_when_asked(partner: httpx.AsyncClient) -> None:
    fault = {"status": 429, "for_s": 600, "retry_after_s": 120}
    set_ = await partner.put("/_sandbox/behaviour", json={"tax": {"faults": fault}})

    answer = await partner.post("/tax/v1/invoice-allotments", json=allotment(), headers=idem())

    assert set_.json()["tax"]["faults"] == {**fault, "message": None}
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "120"
    assert answer.json()["error"]["code"] == "too_many_requests"
    assert await effects(partner, "tax") == {"requests": 1, "effects": 0}


async def test_a_fault_answers_with_the_message_it_is_given(partner: httpx.AsyncClient) -> None:
    words = "经营者身份证号410502199003071234与登记信息不符，请联系13812345678"
    fault = {"status": 422, "for_s": 600, "message": words}
    await partner.put("/_sandbox/behaviour", json={"seal_shop": {"faults": fault}})

    answer = await partner.get("/seal-shop/v1/shops", params={"district_code": "410502"})

    assert answer.status_code == 422
    assert answer.json()["error"] == {"code": "unprocessable_entity", "message": words}


@pytest.mark.parametrize("status", [403, 404, 408, 409, 500, 503, 599])
async def test_any_status_from_400_to_599_can_be_the_fault(partner: httpx.AsyncClient, status: int) -> None:
    await partner.put("/_sandbox/behaviour", json={"bank": {"faults": {"status": status, "for_s": 600}}})

    answer = await partner.get("/bank/v1/banks")

    assert answer.status_code == status
    assert answer.json()["error"]["code"]


async def test_a_fault_ends_by_itself_after_for_s(partner: httpx.AsyncClient) -> None:
    await partner.put("/_sandbox/behaviour", json={"seal_shop": {"faults": {"status": 503, "for_s": 0.2}}})

    first = await partner.get("/seal-shop/v1/shops", params={"district_code": "410502"})

    async def answered() -> bool:
        again = await partner.get("/seal-shop/v1/shops", params={"district_code": "410502"})
        return again.status_code == 200

    assert first.status_code == 503
    await eventually(answered, what="the end of the fault", timeout=10)
    assert (await partner.get("/_sandbox/behaviour")).json()["seal_shop"]["faults"] is None


async def test_hang_s_holds_each_answer(partner: httpx.AsyncClient) -> None:
    await partner.put("/_sandbox/behaviour", json={"postal": {"hang_s": 0.3}})

    started = time.monotonic()
    answer = await partner.get("/postal/v1/waybills/EM000000000CN")

    assert answer.status_code == 404
    assert time.monotonic() - started >= 0.3
    assert (await partner.get("/_sandbox/behaviour")).json()["postal"]["hang_s"] == 0.3


@pytest.mark.parametrize(
    "part",
    [
        {"faults": {"status": 399, "for_s": 60}},
        {"faults": {"status": 600, "for_s": 60}},
        {"faults": {"status": 401, "for_s": 0}},
        {"faults": {"status": 401}},
        {"faults": {"status": 401, "for_s": 60, "retry_after_s": -1}},
        {"faults": {"status": 401, "for_s": 60, "retry_after_s": 1.5}},
        {"faults": {"status": "401", "for_s": 60}},
        {"faults": {"status": 401, "for_s": 60, "until": "later"}},
        {"faults": {"status": 422, "for_s": 60, "message": ""}},
        {"faults": {"status": 422, "for_s": 60, "message": "x" * 1001}},
        {"faults": 401},
        {"hang_s": 121},
        {"hang_s": -1},
    ],
)
async def test_a_fault_or_hang_out_of_range_is_422_and_changes_nothing(
    partner: httpx.AsyncClient, part: dict[str, object]
) -> None:
    before = (await partner.get("/_sandbox/behaviour")).json()

    answer = await partner.put("/_sandbox/behaviour", json={"tax": part})

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_behaviour"
    assert (await partner.get("/_sandbox/behaviour")).json() == before
