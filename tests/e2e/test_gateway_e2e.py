"""End to end through the gateway on the Temporal dev server, as the portal uses it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from domain.identifiers import is_valid_uscc
from tests import factories
from tests.conftest import Stack
from tests.helpers import carving_the_seals, until

pytestmark = pytest.mark.e2e


async def submit(stack: Stack, body: Any) -> Any:
    return await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)


async def status_of(stack: Stack, app_id: str) -> dict[str, Any]:
    resp = await stack.gateway.get(f"/v1/applications/{app_id}", headers=stack.portal)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def wait_for(stack: Stack, app_id: str, stages: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        doc = await status_of(stack, app_id)
        if doc["stage"] in stages:
            return doc
        assert asyncio.get_running_loop().time() < deadline, f"{app_id} still {doc['stage']}"
        await asyncio.sleep(0.2)


async def listed(stack: Stack, **params: str) -> list[dict[str, Any]]:
    ops = {"Authorization": f"Bearer {stack.settings.ops_token}"}
    resp = await stack.gateway.get("/v1/applications", params=params, headers=ops)
    assert resp.status_code == 200, resp.text
    return resp.json()["applications"]  # type: ignore[no-any-return]


async def test_the_portal_submits_an_application_and_watches_it_complete(dev_stack: Stack) -> None:
    await dev_stack.reset_sandbox()
    body = factories.application(district="410581")
    resp = await submit(dev_stack, body)
    assert resp.status_code == 202, resp.text
    app_id = body["application_id"]
    assert resp.json() == {
        "application_id": app_id,
        "workflow_id": f"setup-{app_id}",
        "status_url": f"/v1/applications/{app_id}",
    }
    doc = await wait_for(dev_stack, app_id, {"completed", "rejected", "withdrawn"})
    assert doc["stage"] == "completed"
    assert is_valid_uscc(doc["uscc"]) and doc["uscc"][2:8] == "410581"
    assert doc["stages"]["seal_carving"]["state"] == "done"
    assert doc["stages"]["delivery"]["state"] == "done" and doc["delivery"]["state"] == "delivered"
    assert doc["subsidy"]["granted"] is True and doc["subsidy"]["amount_cny"] == "640.00"
    # Its documents are served as PDFs.
    for name in doc["documents"]:
        pdf = await dev_stack.gateway.get(
            f"/v1/applications/{app_id}/documents/{name}", headers=dev_stack.portal
        )
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), name
    assert set(doc["documents"]) >= {"acceptance_receipt", "business_licence", "completion_notice"}
    # Ops find it in visibility by stage and district (eventually consistent).
    for _ in range(50):
        found = [
            c
            for c in await listed(dev_stack, stage="completed", district="410581")
            if c["application_id"] == app_id
        ]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found and found[0]["enterprise_name"] == body["enterprise"]["name"]
    assert found[0]["sla_status"] == "on_track"


async def test_the_same_application_again_starts_nothing_and_a_different_one_is_a_conflict(
    dev_stack: Stack,
) -> None:
    body = factories.application()
    first = await submit(dev_stack, body)
    assert first.status_code == 202
    # Equal after normalisation: capital without decimals, lower-case nothing else changed.
    again = {**body, "enterprise": {**body["enterprise"], "registered_capital_cny": "500000"}}
    second = await submit(dev_stack, again)
    assert second.status_code == 200, second.text
    assert second.json()["workflow_id"] == first.json()["workflow_id"]
    different = {**body, "enterprise": {**body["enterprise"], "address": "文峰区中华路1号"}}
    third = await submit(dev_stack, different)
    assert third.status_code == 409, third.text
    await wait_for(dev_stack, body["application_id"], {"completed"})
    # Still the same answer once the case is finished; never started again.
    assert (await submit(dev_stack, body)).status_code == 200


async def test_a_bad_application_is_refused_with_field_paths_and_starts_nothing(
    dev_stack: Stack,
) -> None:
    body = factories.application()
    body["shareholders"][0]["id_number"] = body["shareholders"][0]["id_number"][:17] + (
        "0" if body["shareholders"][0]["id_number"][17] != "0" else "1"
    )
    body["enterprise"]["district_code"] = "110101"
    resp = await submit(dev_stack, body)
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {"shareholders.0.id_number", "enterprise.district_code"} <= fields
    assert (
        await dev_stack.gateway.get(f"/v1/applications/{body['application_id']}", headers=dev_stack.portal)
    ).status_code == 404
    assert (
        await dev_stack.gateway.post("/v1/applications", content=b"not json", headers=dev_stack.portal)
    ).status_code == 422
    assert (await dev_stack.gateway.post("/v1/applications", json=factories.application())).status_code == 401


async def test_with_partners_failing_30_percent_every_effect_happens_once(dev_stack: Stack) -> None:
    await dev_stack.reset_sandbox()
    flaky = {"error_rate": 0.3}
    await dev_stack.behave(registration=flaky, seal_shop=flaky, tax=flaky)
    bodies = [factories.application() for _ in range(8)]
    for body in bodies:
        assert (await submit(dev_stack, body)).status_code == 202
    try:
        docs = [
            await wait_for(dev_stack, b["application_id"], {"completed", "rejected"}, 120) for b in bodies
        ]
    finally:
        await dev_stack.behave(
            registration={"error_rate": 0}, seal_shop={"error_rate": 0}, tax={"error_rate": 0}
        )
    assert [d["stage"] for d in docs] == ["completed"] * 8
    effects = await dev_stack.effects()
    assert {p: effects[p]["effects"] for p in ("registration", "seal_shop", "tax")} == {
        "registration": 8,
        "seal_shop": 8,
        "tax": 8,
    }
    assert len({d["uscc"] for d in docs}) == 8


async def test_supplement_and_its_state_rules_through_the_gateway(dev_stack: Stack) -> None:
    body = factories.application(name="安阳市文峰区冲突科技有限公司")
    app_id = body["application_id"]
    assert (await submit(dev_stack, body)).status_code == 202
    doc = await wait_for(dev_stack, app_id, {"awaiting_supplement"})
    assert doc["supplement"]["requested"]

    bad = await dev_stack.gateway.post(
        f"/v1/applications/{app_id}/supplement",
        json={"enterprise": {**body["enterprise"], "name": "晨光科技"}},
        headers=dev_stack.portal,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "enterprise.name"
    good = await dev_stack.gateway.post(
        f"/v1/applications/{app_id}/supplement",
        json={"enterprise": {**body["enterprise"], "name": "安阳市文峰区晨光科技有限公司"}},
        headers=dev_stack.portal,
    )
    assert good.status_code == 202, good.text
    done = await wait_for(dev_stack, app_id, {"completed"})
    assert done["supplement"] is None
    again = await dev_stack.gateway.post(
        f"/v1/applications/{app_id}/supplement",
        json={"enterprise": body["enterprise"]},
        headers=dev_stack.portal,
    )
    assert again.status_code == 409


async def test_rejection_and_withdrawal_end_cases_with_their_reasons(dev_stack: Stack) -> None:
    refused = factories.application(name="安阳市文峰区禁止贸易有限公司")
    assert (await submit(dev_stack, refused)).status_code == 202
    doc = await wait_for(dev_stack, refused["application_id"], {"rejected"})
    assert "refused" in doc["reason"]

    # The shop holds the order: it is still being carved when the case is withdrawn.
    async with dev_stack.seal_orders_held():
        body = factories.application()
        app_id = body["application_id"]
        assert (await submit(dev_stack, body)).status_code == 202
        # Ordered, the first-seal subsidy reserved with the order and its voucher issued: nothing in
        # flight. (A withdrawal handled in the workflow task that completes an activity can leave the
        # case hanging; withdrawing right at "waiting" also raced the subsidy's reservation.)
        await until(
            dev_stack,
            app_id,
            lambda s: carving_the_seals(s) and "subsidy_voucher" in (s.documents or []),
        )
        resp = await dev_stack.gateway.post(
            f"/v1/applications/{app_id}/withdraw",
            json={"reason": "no longer needed"},
            headers=dev_stack.portal,
        )
        assert resp.status_code == 202, resp.text
        doc = await wait_for(dev_stack, app_id, {"withdrawn"})
    assert doc["reason"] == "no longer needed"
    # The first-seal subsidy reserved with the order went back to the budget.
    assert doc["subsidy"] is not None and doc["subsidy"]["granted"] is False
    assert any(h["event"] == "subsidy.released" for h in doc["history"])
    orders = (await dev_stack.sandbox.get("/seal-shop/v1/orders", params={"application_id": app_id})).json()
    assert [o["status"] for o in orders["orders"]] == ["cancelled"]
    again = await dev_stack.gateway.post(
        f"/v1/applications/{app_id}/withdraw", json={}, headers=dev_stack.portal
    )
    assert again.status_code == 409
    unknown = await dev_stack.gateway.post(
        "/v1/applications/NOPE-000000/withdraw", json={}, headers=dev_stack.portal
    )
    assert unknown.status_code == 404
