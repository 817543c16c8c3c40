"""What the three partners after registration (social insurance bureau, housing fund centre, banks)
share with the others: an Idempotency-Key on every creating POST with the same semantics, effects
counted under their own keys, the behaviour controls (error_rate, latency_s), and reset; and the
test names that make them and the tax bureau refuse an enterprise's first request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.partner_sandbox.conftest import effects
from tests.partner_sandbox.samples import allotment, bank_appointment, hf_account, idem, si_registration


@dataclass(frozen=True)
class Partner:
    key: str
    """Its key in the behaviour and the effects."""
    path: str
    id_field: str
    request: Callable[..., dict[str, Any]]
    other_body: dict[str, Any]
    """A change of the request that makes it another request."""

    def __str__(self) -> str:
        return self.key


PARTNERS = [
    Partner(
        "social_insurance",
        "/social-insurance/v1/registrations",
        "registration_no",
        si_registration,
        {"employees": 4},
    ),
    Partner("housing_fund", "/housing-fund/v1/accounts", "account_no", hf_account, {"employees": 5}),
    Partner("bank", "/bank/v1/appointments", "appointment_id", bank_appointment, {"bank": "中原银行"}),
]
ALL_KEYS = ("registration", "seal_shop", "tax", "postal", "social_insurance", "housing_fund", "bank")
each_partner = pytest.mark.parametrize("p", PARTNERS, ids=str)


@each_partner
async def test_a_creating_post_needs_an_idempotency_key_and_performs_nothing_without_one(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    missing = await partner.post(p.path, json=p.request())
    too_long = await partner.post(p.path, json=p.request(), headers={"Idempotency-Key": "k" * 201})

    assert missing.status_code == too_long.status_code == 400
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    assert missing.json()["error"]["fields"] == ["Idempotency-Key"]
    assert too_long.json()["error"]["code"] == "invalid_request"
    assert await effects(partner, p.key) == {"requests": 2, "effects": 0}


@each_partner
async def test_the_same_key_and_body_get_the_first_answer_byte_for_byte_and_one_effect(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    key = idem(p.key)
    first = await partner.post(p.path, json=p.request(), headers=key)
    reordered = dict(reversed(list(p.request().items())))  # key order does not make it another request
    again = await partner.post(p.path, json=reordered, headers=key)
    stored = await partner.get(f"{p.path}/{first.json()[p.id_field]}")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert stored.status_code == 200
    assert stored.json() == first.json()
    assert await effects(partner, p.key) == {"requests": 3, "effects": 1}  # the read included


@each_partner
async def test_the_same_key_with_another_body_is_409_and_performs_nothing(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    key = idem(p.key)
    first = await partner.post(p.path, json=p.request(), headers=key)
    other = await partner.post(p.path, json={**p.request(), **p.other_body}, headers=key)
    elsewhere = await partner.post(p.path, json={**p.request(), **p.other_body}, headers=idem(p.key))

    assert first.status_code == 201
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["fields"] == ["Idempotency-Key"]
    assert elsewhere.status_code == 201
    assert await effects(partner, p.key) == {"requests": 3, "effects": 2}


@each_partner
async def test_an_invalid_request_leaves_its_key_free_for_the_corrected_one(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    key = idem(p.key)
    invalid = await partner.post(p.path, json={**p.request(), "application_id": "AY!"}, headers=key)
    corrected = await partner.post(p.path, json=p.request(), headers=key)
    not_json = await partner.post(p.path, content=b"{not json", headers=idem(p.key))

    assert invalid.status_code == 400
    assert invalid.json()["error"]["fields"] == ["application_id"]
    assert corrected.status_code == 201
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "invalid_request"
    assert await effects(partner, p.key) == {"requests": 3, "effects": 1}


@each_partner
async def test_effects_are_counted_under_the_partners_own_key_only(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    for n in range(3):
        answer = await partner.post(p.path, json=p.request(f"AY20261127-{n:04d}"), headers=idem(p.key))
        assert answer.status_code == 201

    counts = (await partner.get("/_sandbox/effects")).json()
    assert set(counts) == set(ALL_KEYS)
    assert counts[p.key] == {"requests": 3, "effects": 3}
    assert all(counts[k] == {"requests": 0, "effects": 0} for k in ALL_KEYS if k != p.key)


@each_partner
async def test_a_partner_that_is_always_down_answers_503_to_writes_and_reads(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    made = await partner.post(p.path, json=p.request(), headers=idem(p.key))
    await partner.put("/_sandbox/behaviour", json={p.key: {"error_rate": 1}})

    write = await partner.post(p.path, json=p.request(), headers=idem(p.key))
    read = await partner.get(f"{p.path}/{made.json()[p.id_field]}")

    for answer in (write, read):
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "unavailable"
        assert "暂时不可用" in answer.json()["error"]["message"]
    # Half of the outages of a write strike after the work: the effect may be there, its answer lost.
    assert (await effects(partner, p.key))["requests"] == 3


@each_partner
async def test_a_partner_down_30_percent_of_the_time_still_performs_one_effect_per_key_when_retried(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    await partner.put("/_sandbox/behaviour", json={p.key: {"error_rate": 0.3}})
    outages = 0
    made: set[str] = set()
    for n in range(10):
        key = idem(p.key)
        body = p.request(f"AY20261127-{n:04d}")
        while (answer := await partner.post(p.path, json=body, headers=key)).status_code == 503:
            outages += 1
        assert answer.status_code == 201
        made.add(answer.json()[p.id_field])

    assert outages > 0
    assert await effects(partner, p.key) == {"requests": 10 + outages, "effects": 10}
    assert len(made) == 10


@each_partner
async def test_latency_delays_the_answer(partner: httpx.AsyncClient, p: Partner) -> None:
    await partner.put("/_sandbox/behaviour", json={p.key: {"latency_s": 0.3}})

    answer = await partner.post(p.path, json=p.request(), headers=idem(p.key))

    assert answer.status_code == 201
    assert answer.elapsed.total_seconds() >= 0.3


@each_partner
async def test_reset_forgets_what_was_made_the_keys_and_the_counts(
    partner: httpx.AsyncClient, p: Partner
) -> None:
    key = idem(p.key)
    made = await partner.post(p.path, json=p.request(), headers=key)
    await partner.put("/_sandbox/behaviour", json={p.key: {"latency_s": 1, "error_rate": 0.5}})

    await partner.post("/_sandbox/reset")

    assert await effects(partner, p.key) == {"requests": 0, "effects": 0}
    assert (await partner.get("/_sandbox/behaviour")).json()[p.key] == {
        "latency_s": 0,
        "error_rate": 0,
        "faults": None,
        "hang_s": 0,
    }
    gone = await partner.get(f"{p.path}/{made.json()[p.id_field]}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    fresh = await partner.post(p.path, json=p.request(), headers=key)
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers
    assert await effects(partner, p.key) == {"requests": 2, "effects": 1}


@dataclass(frozen=True)
class Refusal:
    """A word in the enterprise's name that makes a partner refuse its first request
    (docs/partner-api.md, "Test names")."""

    partner: Partner
    word_in_name: str
    code: str
    field: str
    says: tuple[str, ...]
    """What the message says (of a 文峰区 enterprise)."""

    def __str__(self) -> str:
        return self.partner.key


REFUSALS = [
    Refusal(
        Partner("tax", "/tax/v1/invoice-allotments", "allotment_id", allotment, {}),
        "安阳市文峰区税务异常餐饮有限公司",
        "tax_record_not_ready",
        "uscc",
        ("税务登记信息尚未同步", "国家税务总局安阳市文峰区税务局", "tax record not ready"),
    ),
    Refusal(
        PARTNERS[0],
        "安阳市文峰区参保异常餐饮有限公司",
        "social_insurance_record_not_ready",
        "uscc",
        (
            "的登记信息尚未由市场监管部门共享至安阳市文峰区人力资源和社会保障局",
            "social insurance record not ready",
        ),
    ),
    Refusal(
        PARTNERS[1],
        "安阳市文峰区公积金异常商贸有限公司",
        "housing_fund_record_not_ready",
        "uscc",
        ("尚未共享至安阳市住房公积金管理中心文峰区管理部", "housing fund record not ready"),
    ),
    Refusal(
        PARTNERS[2],
        "安阳市文峰区拒开户贸易有限公司",
        "account_opening_refused",
        "bank",
        ("经尽职调查，中国建设银行安阳分行暂不受理该企业开户预约", "declines to book an account opening"),
    ),
]


@pytest.mark.parametrize("r", REFUSALS, ids=str)
async def test_a_test_named_enterprise_is_refused_its_first_request_the_replay_too_and_new_keys_are_served(
    partner: httpx.AsyncClient, r: Refusal
) -> None:
    p = r.partner
    body = p.request(enterprise_name=r.word_in_name)
    first_key = idem(p.key)

    refused = await partner.post(p.path, json=body, headers=first_key)
    replayed = await partner.post(p.path, json=body, headers=first_key)
    after_refusal = await effects(partner, p.key)
    served = await partner.post(p.path, json=body, headers=idem(p.key))
    served_again = await partner.post(p.path, json=body, headers=idem(p.key))
    stored = await partner.get(f"{p.path}/{served.json()[p.id_field]}")

    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == r.code
    assert error["fields"] == [r.field]
    assert all(words in error["message"] for words in r.says), error["message"]
    assert replayed.content == refused.content  # the same key is the same (stored) answer
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert after_refusal == {"requests": 2, "effects": 0}
    # A new request (a new key) is a new business action: served, and the next one too.
    assert served.status_code == served_again.status_code == 201, served.text
    assert served.json()["uscc"] == body["uscc"]
    assert stored.json() == served.json()
    assert await effects(partner, p.key) == {"requests": 5, "effects": 2}  # the read included
