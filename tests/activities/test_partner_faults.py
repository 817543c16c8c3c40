"""A partner that cannot answer now is never a refusal (activities/partners.py): the sandbox's
faults (docs/partner-api.md, "Sandbox controls") reach the activities as retryable
``PartnerUnavailable`` errors naming the status and nothing the partner said, after the
partner's ``Retry-After`` when it sends one; only documented refusals stay final."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.filings import FilingActivities
from activities.partners import (
    PARTNER_REFUSED,
    PARTNER_UNAVAILABLE,
    RETRY_AFTER_CAP,
    PartnerClient,
    PartnerRefusal,
    PartnerUnavailable,
    retry_after,
)
from activities.registration import RegistrationActivities
from domain.application import Application
from domain.partners import RegistrationFiling
from infra.settings import Settings
from tests import factories
from tests.activities.test_partner_refusals import allotment_request
from tests.partner_sandbox.conftest import effects


def a_filing(key: str) -> RegistrationFiling:
    return RegistrationFiling(
        application=Application.model_validate(factories.application()), idempotency_key=key
    )


async def fault(partner: httpx.AsyncClient, name: str, **fault: object) -> None:
    answer = await partner.put("/_sandbox/behaviour", json={name: {"faults": {"for_s": 600, **fault}}})
    answer.raise_for_status()


@pytest.mark.parametrize("status", [401, 403, 404, 408, 409, 429, 400, 500, 503])
async def test_a_status_that_is_no_documented_refusal_is_retried(
    partners: PartnerClient, partner: httpx.AsyncClient, status: int
) -> None:
    await fault(partner, "registration", status=status)

    with pytest.raises(PartnerUnavailable) as caught:
        await ActivityEnvironment().run(RegistrationActivities(partners).file_registration, a_filing("reg-1"))

    err = caught.value
    assert err.type == PARTNER_UNAVAILABLE and not err.non_retryable
    assert (err.status, err.kind) == (status, "http")
    assert err.details == ({"status": status, "kind": "http"},)
    assert err.next_retry_delay is None
    assert err.message == f"POST /registration/v1/filings: HTTP {status}"
    # Never read as a refusal, so never turned into one.
    assert PartnerRefusal.of(err) is None
    assert await effects(partner, "registration") == {"requests": 1, "effects": 0}


async def test_a_retry_after_sets_the_next_attempts_delay(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    await fault(partner, "tax", status=429, retry_after_s=120)

    with pytest.raises(PartnerUnavailable) as caught:
        await ActivityEnvironment().run(
            FilingActivities(partners).issue_first_invoices,
            allotment_request("tax-1", name="安阳市殷都区晨光五金有限公司"),
        )

    assert caught.value.status == 429
    assert caught.value.next_retry_delay == timedelta(seconds=120)


async def test_a_documented_refusal_stays_final_while_other_statuses_pass(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    await fault(partner, "tax", status=422)

    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            FilingActivities(partners).issue_first_invoices,
            allotment_request("tax-1", name="安阳市殷都区晨光五金有限公司"),
        )

    assert caught.value.type == PARTNER_REFUSED and caught.value.non_retryable


async def test_a_partner_holding_its_answer_past_the_clients_timeout_is_a_timeout(
    settings: Settings, sandbox_url: str, partner: httpx.AsyncClient
) -> None:
    await partner.put("/_sandbox/behaviour", json={"registration": {"hang_s": 5}})
    unavailable = await reading_a_filing(settings, sandbox_url, timeout=0.2)

    assert (unavailable.status, unavailable.kind) == (None, "timeout")
    assert unavailable.details == ({"status": None, "kind": "timeout"},)


async def test_a_refused_connection_is_unreachable(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unavailable = await reading_a_filing(settings, f"http://127.0.0.1:{port}", timeout=5)

    assert (unavailable.status, unavailable.kind) == (None, "unreachable")


async def reading_a_filing(settings: Settings, base_url: str, *, timeout: float) -> PartnerUnavailable:
    """What reading a filing at ``base_url`` raises, with a client that waits ``timeout`` seconds."""
    client = PartnerClient(settings, httpx.AsyncClient(base_url=base_url, timeout=timeout))
    try:
        with pytest.raises(PartnerUnavailable) as caught:
            await client.request("GET", "/registration/v1/filings/REG-ANY")
    finally:
        await client.aclose()
    return caught.value


def test_retry_after_reads_seconds_and_http_dates_and_caps_them() -> None:
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    assert retry_after("120", now) == timedelta(seconds=120)
    assert retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == timedelta(
        seconds=90
    )
    assert retry_after("86400", now) == RETRY_AFTER_CAP
    assert retry_after(format_datetime(now + timedelta(days=1), usegmt=True), now) == RETRY_AFTER_CAP
    for nothing in (None, "0", "soon", "-5", format_datetime(now - timedelta(minutes=1), usegmt=True)):
        assert retry_after(nothing, now) is None
