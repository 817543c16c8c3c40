"""Operators act on cases through the gateway, on the Temporal dev server: a refused seal order is
reassigned, a refused allotment retried, and a case is rejected, each with the ops token; the
portal's token gets none of it."""

from __future__ import annotations

from typing import Any

import pytest

from store.audit import AuditLog
from tests.conftest import Stack
from tests.e2e.test_gateway_e2e import status_of, submit, wait_for
from tests.helpers import eventually, fresh_application

pytestmark = pytest.mark.e2e

FINAL = {"completed", "rejected", "withdrawn"}


def ops(stack: Stack, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {stack.settings.ops_token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


async def waiting_for_an_operator(stack: Stack, app_id: str, stage: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        doc = await status_of(stack, app_id)
        attention = doc.get("attention")
        return doc if attention is not None and attention["stage"] == stage else None

    return await eventually(probe, what=f"{app_id} waiting for an operator on {stage}", timeout=60)


async def listed_ids(stack: Stack, **params: str) -> set[str]:
    resp = await stack.gateway.get("/v1/applications", params={**params, "limit": "1000"}, headers=ops(stack))
    assert resp.status_code == 200, resp.text
    return {c["application_id"] for c in resp.json()["applications"]}


async def test_an_operator_reassigns_a_refused_seal_order_through_the_gateway(dev_stack: Stack) -> None:
    body, app_id = await fresh_application(dev_stack, name="安阳市文峰区拒刻科技有限公司", invoice=False)
    assert (await submit(dev_stack, body)).status_code == 202
    doc = await waiting_for_an_operator(dev_stack, app_id, "seal_carving")
    assert doc["attention"]["actions"] == ["retry_stage", "reassign_seal_shop", "reject"]
    assert [c["shop_id"] for c in doc["attention"]["candidates"]] == ["SHOP-410502-02", "SHOP-410502-03"]
    url = f"/v1/applications/{app_id}/actions"

    # Visibility lists it among the cases waiting for someone (the attribute is written by then).
    await eventually(
        lambda: _has(listed_ids(dev_stack, needs_attention="true"), app_id), what="the needs_attention list"
    )
    assert app_id not in await listed_ids(dev_stack, needs_attention="false")

    # The portal may not act; a missing token neither. Nothing is recorded.
    action = {
        "action": "reassign_seal_shop",
        "shop_id": "SHOP-410502-03",
        "operator": "王敏",
        "note": "01 refuses",
    }
    assert (await dev_stack.gateway.post(url, json=action, headers=dev_stack.portal)).status_code == 401
    assert (await dev_stack.gateway.post(url, json=action)).status_code == 401
    # Not offered now: a 422 that names what is.
    wrong = await dev_stack.gateway.post(
        url, json={"action": "switch_to_pickup", "operator": "王敏"}, headers=ops(dev_stack)
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["offered"] == ["retry_stage", "reassign_seal_shop", "reject"]
    assert wrong.json()["errors"][0]["field"] == "action"
    # A shop outside the district's others, and a body that breaks the rules: 422 too.
    other = {**action, "shop_id": "SHOP-410503-02"}
    assert (await dev_stack.gateway.post(url, json=other, headers=ops(dev_stack))).status_code == 422
    nameless = {"action": "retry_stage"}
    refused = await dev_stack.gateway.post(url, json=nameless, headers=ops(dev_stack))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "operator"

    first = await dev_stack.gateway.post(url, json=action, headers=ops(dev_stack, "k-42"))
    assert first.status_code == 202, first.text
    again = await dev_stack.gateway.post(url, json=action, headers=ops(dev_stack, "k-42"))
    assert again.status_code == 202, again.text

    doc = await wait_for(dev_stack, app_id, FINAL)
    assert doc["stage"] == "completed"
    assert doc["attention"] is None
    recorded = [h for h in doc["history"] if h["event"].startswith("action.")]
    assert [h["detail"] for h in recorded] == ["reassign_seal_shop (SHOP-410502-03) by 王敏: 01 refuses"]
    orders = (await dev_stack.sandbox.get("/seal-shop/v1/orders", params={"application_id": app_id})).json()
    assert [(o["shop_id"], o["status"]) for o in orders["orders"]] == [("SHOP-410502-03", "completed")]
    assert doc["subsidy"]["granted"] is True

    # After the end: the same key is the first answer (the status as it was recorded then, while
    # the case still runs; the case as it closed once it has); a new action a conflict.
    late = await dev_stack.gateway.post(url, json=action, headers=ops(dev_stack, "k-42"))
    assert late.status_code == 202, late.text
    assert late.json()["stage"] in {first.json()["stage"], "completed"}
    closed = await dev_stack.gateway.post(url, json=action, headers=ops(dev_stack, "k-43"))
    assert closed.status_code == 409

    # The audit log has each action answered 202 (a repeat too), under the shared token and the
    # name given; none refused, and not the note.
    acts, _ = await AuditLog(dev_stack.alerts.engine).page(case=app_id, action="act")
    assert [(e.actor, e.role, e.detail) for e in acts] == [
        ("shared-ops-token", "ops", "reassign_seal_shop as 王敏")
    ] * 3


async def test_an_operator_rejects_a_case_whose_tax_record_is_not_ready(dev_stack: Stack) -> None:
    body, app_id = await fresh_application(dev_stack, name="安阳市文峰区税务异常商贸有限公司")
    assert (await submit(dev_stack, body)).status_code == 202
    doc = await waiting_for_an_operator(dev_stack, app_id, "invoice")
    assert doc["attention"]["actions"] == ["retry_stage", "reject"]
    resp = await dev_stack.gateway.post(
        f"/v1/applications/{app_id}/actions",
        json={
            "action": "reject",
            "reason": "税务登记异常，请至税务窗口处理",
            "operator": "李娜",
            "note": "called",
        },
        headers=ops(dev_stack),
    )
    assert resp.status_code == 202, resp.text
    doc = await wait_for(dev_stack, app_id, FINAL)
    assert doc["stage"] == "rejected" and doc["reason"] == "税务登记异常，请至税务窗口处理"
    # The seals, carved or not, are not left half-done: a carving order is cancelled, a carved set
    # stays paid for; an unsettled subsidy is released.
    orders = (await dev_stack.sandbox.get("/seal-shop/v1/orders", params={"application_id": app_id})).json()
    for order in orders["orders"]:
        assert order["status"] in {"completed", "cancelled"}
        if order["status"] == "cancelled":
            assert doc["subsidy"]["granted"] is False


async def _has(ids: Any, app_id: str) -> bool:
    return app_id in await ids
