"""``MoreItems``: the rest of the 企业开办 scope, beside seal carving and the first invoices.

Employees' social insurance registration (员工参保登记) at the human resources and social
security bureau, housing provident fund registration (住房公积金缴存登记) at the housing fund
centre, and an appointment to open the basic account (银行预约开户) at the chosen bank. Each is
optional in the application (absent: ``skipped``). Each runs under its own promise (the policy's
``social_insurance``, ``housing_fund`` and ``bank_account`` limits) inside the overall one. Each
is one activity at its partner, with its idempotency key made once here and a new one when an
operator retries. A refusal, or a partner silent past the patience, waits for an operator as the
other stages do (``workflows/attention.py``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.bank import BankActivities
    from activities.filings import FilingActivities
    from activities.partners import PartnerRefusal
    from domain.partners import (
        BankAppointment,
        BankAppointmentRequest,
        HousingFundAccount,
        HousingFundRequest,
        Licence,
        SocialInsuranceRegistration,
        SocialInsuranceRequest,
    )
    from domain.status import (
        EXTRA_ITEMS,
        BankAppointmentStatus,
        HousingFundStatus,
        SocialInsuranceStatus,
        StageName,
    )

from workflows.calls import PARTNER_CALL_TIMEOUT, PARTNER_RETRY, execute
from workflows.case_record import CaseRecord
from workflows.partner_step import PartnerStep, Refusal
from workflows.promises import Promises

# The whole 企业开办 scope; cases from before it have none of these stages.
WHOLE_SCOPE_PATCH = "whole-scope-v1"

_PARTNERS: dict[StageName, str] = {
    "social_insurance": "the human resources and social security bureau (人社局)",
    "housing_fund": "the housing provident fund centre (公积金中心)",
    "bank_account": "the bank",
}


class MoreItems:
    def __init__(self, record: CaseRecord, promises: Promises, step: PartnerStep) -> None:
        self._record = record
        self._promises = promises
        self._step = step
        self.enabled = False

    def enable(self) -> None:
        """Each item applied for is pending, the others skipped, from acceptance on."""
        self.enabled = True
        for name in EXTRA_ITEMS:
            self._record.stage_offered(name, getattr(self._record.app, name) is not None)

    @property
    def applied_for(self) -> list[StageName]:
        if not self.enabled:
            return []
        return [name for name in EXTRA_ITEMS if getattr(self._record.app, name) is not None]

    async def run(self, licence: Licence) -> None:
        """Every item applied for, side by side, each under its promise."""
        await asyncio.gather(*(self._item(name, licence) for name in self.applied_for))

    async def _item(self, name: StageName, licence: Licence) -> None:
        calls: dict[StageName, Callable[[Licence, str], Coroutine[Any, Any, Any]]] = {
            "social_insurance": self._social_insurance,
            "housing_fund": self._housing_fund,
            "bank_account": self._bank_account,
        }
        partner = _PARTNERS[name]

        async def explain(refusal: PartnerRefusal) -> Refusal:
            return Refusal(f"{partner} refused: {refusal.message}", refusal.message)

        await self._promises.run_stage(
            name,
            lambda: self._step.attempt(
                name,
                functools.partial(calls[name], licence),
                keys=f"{self._record.workflow_id}/{name}",
                partner=lambda: partner,
                explain=explain,
            ),
        )

    async def _social_insurance(self, licence: Licence, key: str) -> SocialInsuranceRegistration:
        part = self._record.app.social_insurance
        assert part is not None
        done: SocialInsuranceRegistration = await _at_partner(
            FilingActivities.register_social_insurance,
            SocialInsuranceRequest(**self._employees(licence, part.employees, key)),
            f"参保 social insurance of {part.employees} employees",
        )
        self._record.item_answered(
            "social_insurance", SocialInsuranceStatus.model_validate(done, from_attributes=True)
        )
        self._record.record(
            "social_insurance.registered", f"registration {done.registration_no} by {done.bureau}"
        )
        return done

    async def _housing_fund(self, licence: Licence, key: str) -> HousingFundAccount:
        part = self._record.app.housing_fund
        assert part is not None
        done: HousingFundAccount = await _at_partner(
            FilingActivities.open_housing_fund_account,
            HousingFundRequest(**self._employees(licence, part.employees, key)),
            f"公积金 housing fund account for {part.employees} employees",
        )
        self._record.item_answered(
            "housing_fund", HousingFundStatus.model_validate(done, from_attributes=True)
        )
        self._record.record("housing_fund.opened", f"account {done.account_no} at {done.office}")
        return done

    def _employees(self, licence: Licence, employees: int, key: str) -> dict[str, Any]:
        """The request of an employees' registration (social insurance, housing fund)."""
        return {
            "application_id": self._record.application_id,
            "uscc": licence.uscc,
            "enterprise_name": licence.name,
            "employees": employees,
            "idempotency_key": key,
        }

    async def _bank_account(self, licence: Licence, key: str) -> BankAppointment:
        part = self._record.app.bank_account
        assert part is not None
        done: BankAppointment = await _at_partner(
            BankActivities.book_bank_appointment,
            BankAppointmentRequest(
                application_id=self._record.application_id,
                uscc=licence.uscc,
                enterprise_name=licence.name,
                bank=part.bank,
                branch=part.branch,
                legal_representative_name=self._record.app.legal_representative.name,
                idempotency_key=key,
            ),
            f"开户 bank account appointment at {part.bank}" + (f" {part.branch}" if part.branch else ""),
        )
        self._record.item_answered(
            "bank_account", BankAppointmentStatus.model_validate(done, from_attributes=True)
        )
        when = done.appointment_at.astimezone(self._promises.policy.zone).strftime("%Y-%m-%d %H:%M")
        self._record.record("bank_account.booked", f"{done.bank}{done.branch}, {when}")
        return done


async def _at_partner(
    activity: Callable[[Any, Any], Coroutine[Any, Any, Any]], request: Any, summary: str
) -> Any:
    """One partner call, retried with its key for as long as it takes."""
    return await execute(
        activity,
        request,
        start_to_close_timeout=PARTNER_CALL_TIMEOUT,
        retry_policy=PARTNER_RETRY,
        summary=summary,
    )
