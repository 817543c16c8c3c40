"""The portal's status push: one case event POSTed to one ``ODS_PORTAL_WEBHOOKS`` URL (``PortalPush``
runs these, one event at a time per URL, in sequence order).

The body is ``PortalEvent.body()`` (docs/operations.md), signed in the Standard Webhooks convention
(``infra.signing.standard_webhook_headers``) with the receiver's own secret (``URL whsec_…`` in
ODS_PORTAL_WEBHOOKS), else ``ODS_PORTAL_WEBHOOK_SECRET`` — never the alert subscribers' secret
where that is set: ``webhook-id`` is the event's id, so a receiver drops a repeat by it. The secret
is looked up here, by URL, so it never enters a case's history (which holds the URLs only).

What an answer means: 2xx, the receiver has the event. 410 Gone, the receiver says the endpoint is
no more (the Standard Webhooks advice: stop sending there): a non-retryable ``RECEIVER_GONE``
error, and this case posts that URL nothing more. Anything else (5xx, a timeout, a refused
connection, and the other 4xx too) is raised and retried by Temporal for as long as it takes: a 401
after a secret rotation or a 404 while the portal is redeployed is a receiver to be fixed, and
when it is, it still gets every event, in order.
"""

from __future__ import annotations

import json

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.portal import RECEIVER_GONE, PortalPost
from infra.http import http_client
from infra.settings import Settings
from infra.signing import standard_webhook_headers

GONE = 410


class PortalPushActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def post_portal_event(self, post: PortalPost) -> int:
        """POST one event to one receiver, signed; its status code once it is 2xx."""
        event = post.event
        body = json.dumps(event.body(), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            **standard_webhook_headers(self.settings.webhook_secret_of("portal", post.url), event.id, body),
        }
        async with http_client(timeout=15.0) as client:
            resp = await client.post(post.url, content=body, headers=headers)
        if resp.status_code == GONE:
            raise ApplicationError(
                f"portal receiver {post.url} answered 410 Gone to {event.id}: it gets nothing more "
                "from this case",
                type=RECEIVER_GONE,
                non_retryable=True,
            )
        if not resp.is_success:
            raise RuntimeError(f"portal receiver {post.url} answered {resp.status_code} to {event.id}")
        return resp.status_code
