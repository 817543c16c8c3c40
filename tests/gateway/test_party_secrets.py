"""One secret per party (issue 19): each partner and each seal shop signs its callbacks with a
secret of its own, over the partner the URL names; a completion for an order the case does not
hold is refused; each webhook endpoint has its own secret, so an alert subscriber cannot forge a
portal push; and the settings refuse shared or weak party secrets when exposed."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from standardwebhooks import WebhookVerificationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.portal_push import PortalPushActivities
from domain.portal import PortalEvent, PortalPost
from gateway.app import create_app
from infra.serving import serve_in_background
from infra.settings import Settings
from infra.signing import SIGNATURE_HEADER, sign, sign_callback
from service import cases
from tests import factories
from tests.conftest import Stack
from tests.gateway.support import gateway_settings
from tests.helpers import closed, start, until
from tests.infra.test_settings import STRONG, STRONG_CODEC_KEYS
from tests.workflows.portal_push_harness import receiver_webhook

SETTINGS = gateway_settings(
    data_dir=Path(tempfile.mkdtemp(prefix="ods-party-secrets-")), callback_secret="test-callback-secret"
)
CASE = "AY20261127-0001"
SHOP = "SHOP-410502-01"


@pytest.fixture
def app() -> FastAPI:
    return create_app(SETTINGS, client=None)


def event(name: str = "postal.delivered", **data: Any) -> bytes:
    return json.dumps(
        {
            "event_id": "evt-1",
            "event": name,
            "application_id": "no such case!",  # a signature that holds ends in a 404, before Temporal
            "occurred_at": "2026-11-27T10:00:00+08:00",
            "data": data,
        }
    ).encode()


def signed_by(party: str, partner: str, body: bytes, settings: Settings = SETTINGS) -> dict[str, str]:
    key = settings.callback_secret_of(party)
    return {SIGNATURE_HEADER: sign_callback(key, partner, body), "Content-Type": "application/json"}


def test_every_party_has_a_secret_of_its_own() -> None:
    parties = ["postal", SHOP, "SHOP-410502-02"]
    assert len({SETTINGS.callback_secret_of(p) for p in parties} | {SETTINGS.callback_secret}) == 4
    own = SETTINGS.model_copy(update={"callback_secrets": f"postal:{'e' * 40}"})
    assert own.callback_secret_of("postal") == "e" * 40
    assert own.callback_secret_of(SHOP) == SETTINGS.callback_secret_of(SHOP)


async def test_a_postal_event_signed_by_emss_secret_passes_and_a_shops_is_401(
    gateway: httpx.AsyncClient,
) -> None:
    body = event(waybill_no="EA000000000CN")
    ems = await gateway.post(
        "/v1/callbacks/postal", content=body, headers=signed_by("postal", "postal", body)
    )
    assert ems.status_code == 404, ems.text  # signature good; no such case
    forged = await gateway.post("/v1/callbacks/postal", content=body, headers=signed_by(SHOP, "postal", body))
    assert forged.status_code == 401, forged.text
    # Nor does naming the shop in the body make its secret EMS's.
    body = event(waybill_no="EA000000000CN", shop_id=SHOP)
    forged = await gateway.post("/v1/callbacks/postal", content=body, headers=signed_by(SHOP, "postal", body))
    assert forged.status_code == 401, forged.text


async def test_the_urls_partner_is_part_of_what_is_signed(gateway: httpx.AsyncClient) -> None:
    body = event("seal_order.completed", order_id="SO-1", shop_id=SHOP)
    good = await gateway.post(
        "/v1/callbacks/seal_shop", content=body, headers=signed_by(SHOP, "seal_shop", body)
    )
    assert good.status_code == 404, good.text
    # The same body and key, signed for another partner's URL: refused.
    moved = await gateway.post(
        "/v1/callbacks/seal_shop", content=body, headers=signed_by(SHOP, "postal", body)
    )
    assert moved.status_code == 401 and "partner seal_shop" in moved.json()["detail"]
    # Another shop's secret does not sign this shop's completion.
    other = await gateway.post(
        "/v1/callbacks/seal_shop", content=body, headers=signed_by("SHOP-410502-02", "seal_shop", body)
    )
    assert other.status_code == 401, other.text


async def test_a_shop_cannot_send_a_tracking_event_down_its_own_path(gateway: httpx.AsyncClient) -> None:
    body = event("postal.delivered", waybill_no="EA000000000CN", shop_id=SHOP)
    resp = await gateway.post(
        "/v1/callbacks/seal_shop", content=body, headers=signed_by(SHOP, "seal_shop", body)
    )
    assert resp.status_code == 403 and "seal_order." in resp.json()["detail"]


async def test_the_shared_secrets_signature_of_before_only_where_nothing_is_exposed() -> None:
    body = event(waybill_no="EA000000000CN")
    legacy = {SIGNATURE_HEADER: sign(SETTINGS.callback_secret, body), "Content-Type": "application/json"}
    production = SETTINGS.model_copy(update={"env": "production"})  # as exposed; built unchecked
    for settings, status in ((SETTINGS, 404), (production, 401)):
        app = create_app(settings, client=None)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as gw:
            resp = await gw.post("/v1/callbacks/postal", content=body, headers=legacy)
        assert resp.status_code == status, resp.text


async def test_a_completion_for_an_order_the_case_does_not_hold_is_409(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    async with ts_stack.seal_orders_held():
        body = factories.application()
        app_id = body["application_id"]
        case = await start(ts_stack, body)
        await until(ts_stack, app_id, lambda s: s.stages.seal_carving.state == "waiting")
        orders = (
            await ts_stack.sandbox.get("/seal-shop/v1/orders", params={"application_id": app_id})
        ).json()
        [order] = orders["orders"]

        async def completion(order_id: str, shop: str, n: int) -> httpx.Response:
            raw = json.dumps(
                {
                    "event_id": f"evt-{app_id}-{n}",
                    "event": "seal_order.completed",
                    "application_id": app_id,
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "data": {"order_id": order_id, "shop_id": shop},
                }
            ).encode()
            headers = signed_by(shop, "seal_shop", raw, ts_stack.settings)
            return await ts_stack.gateway.post("/v1/callbacks/seal_shop", content=raw, headers=headers)

        unknown = await completion("SO-NOT-OURS", order["shop_id"], 1)
        assert unknown.status_code == 409 and "holds no seal order" in unknown.json()["detail"]
        # The case's order, claimed by a shop that is not its own (with that shop's own secret).
        other_shop = order["shop_id"][:-2] + "03"
        wrong_shop = await completion(order["order_id"], other_shop, 2)
        assert wrong_shop.status_code == 409, wrong_shop.text
        status = await cases.get_status(ts_stack.client, app_id)
        assert status.stages.seal_carving.state == "waiting"
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
    await closed(time_skipping_env, case)


async def test_an_alert_subscribers_secret_cannot_verify_a_portal_push() -> None:
    alerts_secret, portal_secret, own = ("whsec_" + c * 43 for c in "ABC")
    sent: list[tuple[dict[str, str], bytes]] = []
    portal = FastAPI()

    @portal.post("/{path}")
    async def take(request: Request) -> Response:
        sent.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    async with serve_in_background(portal) as url:
        pushes = {f"{url}/portal": portal_secret, f"{url}/own": own}
        settings = Settings(
            webhook_secret=alerts_secret,
            portal_webhook_secret=portal_secret,
            portal_webhooks=f"{url}/portal, {url}/own {own}",
        )
        # The case keeps the URLs in its input: never a secret among them.
        assert settings.portal_webhook_urls == list(pushes)
        activities = PortalPushActivities(settings)
        for n, push_url in enumerate(pushes, start=1):
            portal_event = PortalEvent(
                id=f"setup-{CASE}/{n}",
                type="case.stage_changed",
                application_id=CASE,
                workflow_id=f"setup-{CASE}",
                stage="accepted",
                sequence=n,
                at=datetime.now(UTC),
            )
            post = PortalPost(url=push_url, event=portal_event)
            assert await ActivityEnvironment().run(activities.post_portal_event, post) == 204
    for (headers, raw), secret in zip(sent, pushes.values(), strict=True):
        assert receiver_webhook(secret).verify(raw, headers)["id"].startswith("setup-")
        with pytest.raises(WebhookVerificationError):
            receiver_webhook(alerts_secret).verify(raw, headers)


@pytest.mark.parametrize(
    "change,named",
    [
        ({"callback_secrets": "postal:short"}, "ODS_CALLBACK_SECRETS (postal) is shorter than 32"),
        (
            {"callback_secrets": f"postal:{'c' * 40}"},
            "ODS_CALLBACK_SECRETS (postal) is the same as ODS_CALLBACK_SECRET",
        ),
        (
            {"callback_secrets": f"postal:{'e' * 40},{SHOP}:{'e' * 40}"},
            f"ODS_CALLBACK_SECRETS ({SHOP}) is the same as ODS_CALLBACK_SECRETS (postal)",
        ),
        (
            {"callback_secrets": "postal:dev-callback-secret"},
            "ODS_CALLBACK_SECRETS (postal) is a dev default",
        ),
        ({"portal_webhooks": "https://portal.example.cn/push"}, "ODS_PORTAL_WEBHOOK_SECRET is empty"),
        ({"portal_webhook_secret": "w" * 40}, "ODS_PORTAL_WEBHOOK_SECRET is the same as ODS_WEBHOOK_SECRET"),
        ({"portal_webhook_secret": "short"}, "ODS_PORTAL_WEBHOOK_SECRET is shorter than 32"),
        (
            {"alert_webhooks": "https://a.example.cn/hook,https://b.example.cn/hook"},
            "ODS_ALERT_WEBHOOKS: 2 URLs share ODS_WEBHOOK_SECRET",
        ),
        (
            {
                "portal_webhook_secret": "q" * 40,
                "alert_webhooks": f"https://a.example.cn/hook whsec_{'Q' * 43}",
                "portal_webhooks": f"https://portal.example.cn/push whsec_{'Q' * 43}",
            },
            "ODS_PORTAL_WEBHOOKS (portal.example.cn) is the same as ODS_ALERT_WEBHOOKS (a.example.cn)",
        ),
    ],
)
def test_exposed_settings_refuse_weak_or_shared_party_secrets(change: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        Settings(env="production", codec_keys=STRONG_CODEC_KEYS, **(STRONG | change))


def test_exposed_settings_take_a_secret_per_party_and_per_endpoint() -> None:
    Settings(
        env="production",
        codec_keys=STRONG_CODEC_KEYS,
        callback_secrets=f"postal:{'e' * 40},{SHOP}:{'h' * 40}",
        portal_webhook_secret="q" * 40,
        alert_webhooks=f"https://a.example.cn/hook whsec_{'A' * 43},https://b.example.cn/hook",
        portal_webhooks=f"https://portal.example.cn/push whsec_{'P' * 43}",
        **STRONG,
    )


@pytest.mark.parametrize(
    "change,named",
    [
        ({"callback_secrets": "postal"}, "ODS_CALLBACK_SECRETS entry 1 is not party:secret"),
        ({"callback_secrets": f"postal:{'e' * 40},postal:{'f' * 40}"}, "postal is given twice"),
        ({"portal_webhooks": "http://127.0.0.1:9/p secret"}, "ODS_PORTAL_WEBHOOKS entry 1 must be a URL"),
        ({"alert_webhooks": "http://127.0.0.1:9/a whsec_not base64!"}, "ODS_ALERT_WEBHOOKS entry 1"),
    ],
)
def test_malformed_party_secrets_are_refused_anywhere(change: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)) as refused:
        Settings(**change)
    assert "f" * 40 not in str(refused.value)
