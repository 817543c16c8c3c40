"""``Registration``: company registration (企业设立登记) at the market regulation bureau, with
supplements (补正).

Each filing is a new business action with a new idempotency key. A name conflict asks the
applicant for corrected materials within the policy's supplement window; while the case waits,
the registration and overall clocks are paused (time with the applicant does not count). A
refusal, or no supplement in time, ends the case ``rejected``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.partners import NAME_CONFLICT, REGISTRATION_REFUSED, PartnerRefusal
    from activities.registration import RegistrationActivities
    from domain.application import Application
    from domain.partners import Licence, RegistrationFiling
    from domain.status import StageName

from workflows.alarms import wait_until
from workflows.calls import PARTNER_CALL_TIMEOUT, PARTNER_RETRY, execute
from workflows.case_record import CaseRecord, CaseRejected
from workflows.partner_step import PartnerStep
from workflows.promises import Promises
from workflows.versions import patched

_PARTNER = "the registration system (市场监管)"
PAUSED_BY_SUPPLEMENT: tuple[StageName, ...] = ("registration", "overall")
# A name that still conflicts after the policy's ``supplement_rounds`` ends the case rejected.
SUPPLEMENT_ROUNDS_PATCH = "supplement-rounds-v1"


class Registration:
    def __init__(self, record: CaseRecord, promises: Promises, step: PartnerStep) -> None:
        self._record = record
        self._promises = promises
        self._step = step
        # Corrected materials handed in by the ``supplement`` update, until taken.
        self.supplied: Application | None = None
        self._rounds = 0

    @property
    def awaiting_supplement(self) -> bool:
        return self._record.status.stage == "awaiting_supplement" and self.supplied is None

    async def register(self) -> Licence:
        record = self._record
        record.set_stage("registration")
        # A new submission (first, or after a supplement or an operator's retry_stage) is a new
        # business action: the step makes each its own key.
        licence = await self._step.attempt(
            "registration",
            self._file,
            keys=f"{record.workflow_id}/registration",
            partner=lambda: _PARTNER,
            own_answer=self._refused,
        )
        record.record("registration.licence_issued", f"USCC {licence.uscc} by {licence.authority}")
        return licence

    async def _file(self, key: str) -> Licence:
        self._record.wait_for(_PARTNER)
        filing = RegistrationFiling(application=self._record.app, idempotency_key=key)
        return await execute(
            RegistrationActivities.file_registration,
            filing,
            start_to_close_timeout=PARTNER_CALL_TIMEOUT,
            retry_policy=PARTNER_RETRY,
            summary=f"登记 registration of {filing.application.enterprise.name}",
        )

    async def _refused(self, refusal: PartnerRefusal, err: ActivityError) -> bool:
        """A name conflict asks the applicant for a supplement, then files again; any other
        refusal ends the case (registration is the case: no operator can file around it)."""
        if refusal.type == NAME_CONFLICT:
            rounds = self._promises.policy.supplement_rounds
            if self._rounds >= rounds and patched(SUPPLEMENT_ROUNDS_PATCH):
                raise CaseRejected(
                    f"the name still conflicts after {rounds} supplements (the policy's limit)"
                ) from err
            self._rounds += 1
            await self._await_supplement(refusal)
            return True
        if refusal.type == REGISTRATION_REFUSED:
            raise CaseRejected(f"registration refused: {refusal.message}") from err
        raise CaseRejected(f"the registration system did not accept the filing: {refusal.message}") from err

    async def _await_supplement(self, conflict: PartnerRefusal) -> None:
        record, clock = self._record, self._promises.clock
        fields = conflict.fields or ["enterprise"]
        # Time awaiting the applicant does not count against the promise: pause its clocks.
        paused = self._promises.pause(PAUSED_BY_SUPPLEMENT)
        due = await clock.add(workflow.now(), clock.policy.supplement_window_td)
        self._promises.note_calendar()
        record.supplement_requested([f"{f}: {conflict.message}" for f in fields], due)
        supplied, summary = (lambda: self.supplied is not None), f"supplement due {clock.local_hm(due)}"
        timeout = max(due - workflow.now(), timedelta(seconds=1))
        try:
            await wait_until(self._promises.alarms, supplied, timeout, summary)
        except TimeoutError:
            window = clock.policy.supplement_window
            raise CaseRejected(f"no supplement arrived within the supplement window ({window})") from None
        for watch in paused:
            moved = await watch.resume()
            if moved:
                record.record(f"{watch.name}.deadline_moved", f"paused {moved} of working time")
        assert self.supplied is not None
        corrected, self.supplied = self.supplied, None
        record.supplement_received(corrected)
