"""The banks (银行预约开户): an appointment at a branch to open the new enterprise's basic deposit
account (基本存款账户). The banks and their Anyang branches are the project's list
(``domain.banks``); an appointment naming no branch goes to the bank's main branch.

A branch opens on working days, 09:00–17:00 Asia/Shanghai, and books account openings in half-hour
slots, one enterprise per slot. An appointment gets the first free slot of the branch that starts
at least two hours after the booking: later the same day if the branch is still open then,
otherwise on the next working day (from 09:00). Working days follow the State Council schedule
(``chinese_calendar.is_workday``: public holidays off, make-up days on) where the package has data,
weekdays otherwise.

An enterprise whose name contains ``拒开户`` has its first appointment request (the first for that
USCC whose work starts) declined after due diligence, at once (422 ``account_opening_refused``,
nothing booked), as a bank does while its checks are not done; a later request with a new
idempotency key, at that bank or another, is booked.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Response
from pydantic import AfterValidator

from domain.banks import ANYANG_BANKS, Branch, branch_names, branch_of
from domain.working_time import official_is_working_day
from infra.logging import get_logger
from partner_sandbox.booking import Bookings
from partner_sandbox.calls import Answer, PartnerError, Sandbox, read_call
from partner_sandbox.state import CHINA_TZ, SandboxState, iso, now
from partner_sandbox.validation import EnterpriseRequest, Name, invalid

log = get_logger("partner_sandbox.bank")

# The sandbox's test name: the first bank such an enterprise asks declines it, every time.
REFUSED_BY_FIRST_BANK = "拒开户"
OPENS = time(9, 0)
CLOSES = time(17, 0)
SLOT = timedelta(minutes=30)
LEAD = timedelta(hours=2)
OPENING_HOURS = "工作日 09:00-17:00"
ACCOUNT_KIND = "basic_deposit_account"  # 基本存款账户
# What the legal representative brings to the branch (开户资料).
MATERIALS = ["营业执照正本", "法定代表人身份证件原件", "公章", "财务专用章", "法定代表人名章"]
_MAX_DAYS_AHEAD = 400


def _known_bank(value: str) -> str:
    if value not in ANYANG_BANKS:
        raise ValueError(f"not a bank with branches in Anyang (one of {', '.join(ANYANG_BANKS)})")
    return value


class AppointmentRequest(EnterpriseRequest):
    bank: Annotated[Name, AfterValidator(_known_bank)]
    branch: Name | None = None
    """One of the bank's branches in Anyang (``GET /bank/v1/banks``); absent: its main branch."""
    legal_representative_name: Name


def is_working_day(day: date) -> bool:
    """The State Council schedule where ``chinese_calendar`` has it; weekdays for other years."""
    official = official_is_working_day(day)
    return day.weekday() < 5 if official is None else official


def first_free_slot(booked_at: datetime, taken: set[datetime]) -> datetime:
    """The first half-hour slot within opening hours on a working day, starting ``LEAD`` or more after
    ``booked_at`` and not in ``taken``."""
    earliest = booked_at.astimezone(CHINA_TZ) + LEAD
    midnight = datetime.combine(earliest.date(), time(0), CHINA_TZ)
    slots_since = -((midnight - earliest) // SLOT)  # ceiling division
    start = midnight + slots_since * SLOT
    day = start.date()
    for _ in range(_MAX_DAYS_AHEAD):
        if is_working_day(day):
            opens = datetime.combine(day, OPENS, CHINA_TZ)
            last_start = datetime.combine(day, CLOSES, CHINA_TZ) - SLOT
            slot = max(start, opens)
            while slot <= last_start:
                if slot not in taken:
                    return slot
                slot += SLOT
        day += timedelta(days=1)
        start = datetime.combine(day, OPENS, CHINA_TZ)
    raise PartnerError(422, "no_free_slot", "近期无可预约时段 / no free slot in the coming year")


def bank_listing() -> dict[str, Any]:
    return {
        "banks": [
            {
                "bank": bank,
                "branches": [
                    {
                        "branch": b.name,
                        "address": b.address,
                        "district_code": b.district_code,
                        "opening_hours": OPENING_HOURS,
                    }
                    for b in branches
                ],
            }
            for bank, branches in ANYANG_BANKS.items()
        ]
    }


def book(sandbox: SandboxState, req: AppointmentRequest) -> dict[str, Any]:
    branch: Branch | None = branch_of(req.bank, req.branch)
    if branch is None:
        raise invalid(
            [
                (
                    "branch",
                    f"{req.bank} has no branch {req.branch!r} in Anyang "
                    f"(its branches: {', '.join(branch_names(req.bank))})",
                )
            ]
        )
    if REFUSED_BY_FIRST_BANK in req.enterprise_name and sandbox.refuses_first("bank", req.uscc):
        log.info("bank_appointment_refused", application_id=req.application_id, uscc=req.uscc, bank=req.bank)
        raise PartnerError(
            422,
            "account_opening_refused",
            f"经尽职调查，{req.bank}{branch.name}暂不受理该企业开户预约，请补充说明后重新预约"
            f" / account opening refused: after due diligence {req.bank} declines to book an "
            f"account opening for “{req.enterprise_name}” for now; book again once explained",
            ["bank"],
        )
    moment = now()
    booked_at = moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # as iso() shows it
    taken = sandbox.bank_slots.setdefault((req.bank, branch.name), set())
    slot = first_free_slot(booked_at, taken)
    taken.add(slot)
    appointment_id = sandbox.new_id("APT")
    answer = {
        "appointment_id": appointment_id,
        "status": "booked",
        "application_id": req.application_id,
        "uscc": req.uscc,
        "enterprise_name": req.enterprise_name,
        "legal_representative_name": req.legal_representative_name,
        "bank": req.bank,
        "branch": branch.name,
        "branch_address": branch.address,
        "district_code": branch.district_code,
        "account_kind": ACCOUNT_KIND,
        "appointment_at": iso(slot),
        "appointment_ends_at": iso(slot + SLOT),
        "materials": MATERIALS,
        "booked_at": iso(booked_at),
    }
    log.info(
        "bank_appointment_booked",
        application_id=req.application_id,
        appointment_id=appointment_id,
        bank=req.bank,
        branch=branch.name,
        appointment_at=answer["appointment_at"],
    )
    return answer


BANKS = Bookings[dict[str, Any]](
    "bank",
    "/bank/v1/appointments/{appointment_id}",
    tag="banks",
    what="bank appointment",
    kept=lambda sandbox: sandbox.records["bank"],
    document=lambda appointment: appointment,
)
router = BANKS.router


@router.get("/bank/v1/banks", summary="The banks with branches in Anyang, each bank's main branch first")
async def list_banks(sandbox: Sandbox) -> Response:
    return await read_call(sandbox, "bank", lambda: Answer(200, bank_listing()))


BANKS.book("Book an appointment at a branch to open the enterprise's basic account", AppointmentRequest, book)
BANKS.show("An appointment as booked")
