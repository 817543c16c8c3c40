"""Outgoing webhooks in the Standard Webhooks convention, keyed by ``ODS_WEBHOOK_SECRET`` as the
contract reads it (a ``whsec_`` value base64-decoded, any other value its UTF-8 bytes), checked
with the ``standardwebhooks`` package a receiver would use; and the alert webhook carries those
headers beside its ``X-ODS-Signature``, which still verifies as before."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook, WebhookVerificationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alert_webhooks import AlertWebhookActivities, delivery_workflow_id
from domain.alerts import AlertRecord, WebhookDeliveryInput
from infra.serving import serve_in_background
from infra.settings import Settings
from infra.signing import SIGNATURE_HEADER, standard_webhook_headers, verify, webhook_key
from tests.helpers import closed
from tests.workflows.portal_push_harness import DEV_SECRET, WHSEC_SECRET, receiver_webhook
from workflows.alert_webhooks import AlertWebhookDelivery

BODY = json.dumps({"id": "setup-AY1/1", "stage": "受理", "sequence": 1}, ensure_ascii=False).encode()


def test_a_whsec_secret_is_base64_decoded_and_any_other_is_its_utf8_bytes() -> None:
    assert webhook_key(WHSEC_SECRET) == base64.b64decode(WHSEC_SECRET.removeprefix("whsec_"))
    assert webhook_key("dev-webhook-secret") == b"dev-webhook-secret"
    assert webhook_key("密钥-secret") == "密钥-secret".encode()
    # Unpadded base64 is read as the package reads it.
    unpadded = "whsec_" + base64.b64encode(b"0123456789a").decode().rstrip("=")
    assert webhook_key(unpadded) == b"0123456789a" == Webhook(unpadded)._whsecret
    with pytest.raises(ValueError, match="base64"):
        webhook_key("whsec_not base64!")
    with pytest.raises(ValueError, match="empty"):
        webhook_key("whsec_")


@pytest.mark.parametrize("secret", [DEV_SECRET, WHSEC_SECRET, "密钥-secret"])
def test_both_secret_forms_verify_with_standardwebhooks(secret: str) -> None:
    headers = standard_webhook_headers(secret, "setup-AY1/1", BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "setup-AY1/1"
    assert headers["webhook-signature"].startswith("v1,")
    assert receiver_webhook(secret).verify(BODY, headers) == json.loads(BODY)
    # Another body, id or key does not verify.
    with pytest.raises(WebhookVerificationError):
        receiver_webhook(secret).verify(BODY.replace(b"1}", b"2}"), headers)
    with pytest.raises(WebhookVerificationError):
        receiver_webhook(secret).verify(BODY, headers | {"webhook-id": "setup-AY1/2"})
    with pytest.raises(WebhookVerificationError):
        receiver_webhook("other-secret").verify(BODY, headers)


def test_a_plain_secret_is_not_what_the_package_makes_of_the_same_text() -> None:
    # ``Webhook(str)`` base64-decodes any text: signing with it would break the contract's rule.
    headers = standard_webhook_headers(DEV_SECRET, "setup-AY1/1", BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(DEV_SECRET).verify(BODY, headers)


@dataclass
class AlertSubscriber:
    secret: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            raw, headers = await request.body(), dict(request.headers)
            # X-ODS-Signature is keyed as README's ODS_WEBHOOK_SECRET says: a whsec_ secret base64-decoded.
            problem = verify(webhook_key(self.secret), raw, headers.get(SIGNATURE_HEADER.lower()))
            try:
                receiver_webhook(self.secret).verify(raw, headers)
            except WebhookVerificationError as err:
                problem = problem or str(err)
            if problem:
                self.problems.append(problem)
                return Response(problem, status_code=401)
            self.received.append((headers, raw))
            return Response(status_code=204)

        return app


@pytest.fixture(params=[DEV_SECRET, WHSEC_SECRET], ids=["plain", "whsec"])
async def subscriber(request: pytest.FixtureRequest) -> AsyncIterator[tuple[AlertSubscriber, str]]:
    subscriber = AlertSubscriber(request.param)
    async with serve_in_background(subscriber.app()) as url:
        yield subscriber, f"{url}/hook"


async def test_an_alert_webhook_carries_the_standard_headers_beside_its_x_ods_signature(
    time_skipping_env: WorkflowEnvironment, subscriber: tuple[AlertSubscriber, str]
) -> None:
    receiver, url = subscriber
    settings = Settings(task_queue=f"test-alert-headers-{uuid.uuid4()}", webhook_secret=receiver.secret)
    alert = AlertRecord(
        id=f"01ALERT{uuid.uuid4().hex[:8].upper()}",
        application_id="AY20261127-0001",
        workflow_id="setup-AY20261127-0001",
        stage="seal_carving",
        level="breached",
        deadline=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        raised_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        district_code="410502",
        enterprise_name="安阳市文峰区晨曦餐饮有限公司",
    )
    async with Worker(
        time_skipping_env.client,
        task_queue=settings.task_queue,
        workflows=[AlertWebhookDelivery],
        activities=[AlertWebhookActivities(settings).post_alert_webhook],
    ):
        handle = await time_skipping_env.client.start_workflow(
            AlertWebhookDelivery.run,
            WebhookDeliveryInput(alert=alert, urls=[url]),
            id=delivery_workflow_id(alert.id),
            task_queue=settings.task_queue,
        )
        assert await closed(time_skipping_env, handle) == [url]

    assert receiver.problems == []
    [(headers, raw)] = receiver.received
    # The body is unchanged: the alert as the feed shows it.
    assert raw == json.dumps(alert.model_dump(mode="json"), ensure_ascii=False).encode()
    assert headers["webhook-id"] == headers["x-ods-event-id"] == headers["x-ods-alert-id"] == alert.id
    assert headers["x-ods-event"] == "alert.raised"
    # Both signatures are made at the same instant.
    assert headers["x-ods-signature"].startswith(f"t={headers['webhook-timestamp']},sha256=")
    assert receiver_webhook(receiver.secret).verify(raw, headers)["id"] == alert.id
    assert verify(webhook_key(receiver.secret), raw, headers["x-ods-signature"]) is None
