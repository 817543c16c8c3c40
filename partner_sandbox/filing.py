"""A partner that files: the registration system, the tax bureau, the human resources and social
security bureau and the housing provident fund centre.

A request (with an ``Idempotency-Key``) is filed at once: 201 with the record under a fresh number,
which ``GET`` reads again (404 for a number never given). A partner's module declares what it files
(``serve_filings``). The three that file at the office of the enterprise's district share the rest
too (``DistrictOffice``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel

from infra.logging import get_logger
from partner_sandbox import routes
from partner_sandbox.behaviour import Partner
from partner_sandbox.calls import Answer, PartnerError, not_found
from partner_sandbox.localities import district_of_uscc
from partner_sandbox.state import SandboxState, now
from partner_sandbox.validation import EnterpriseRequest, invalid, parse

Q = TypeVar("Q", bound=BaseModel)
M = TypeVar("M", bound=EnterpriseRequest)

log = get_logger("partner_sandbox.filing")


def serve_filings(
    partner: Partner,
    record: str,
    *,
    tag: str,
    what: str,
    model: type[Q],
    file: Callable[[SandboxState, Q], tuple[str, dict[str, Any]]],
    summaries: tuple[str, str],
) -> APIRouter:
    """The routes of a partner that files: ``POST`` (``summaries[0]``) files a ``model`` with
    ``file``, which gives the new record's number and the rest of it; ``GET`` (``summaries[1]``)
    reads a record. ``record`` is the path of one record, as
    ``/housing-fund/v1/accounts/{account_no}``: the number is the record's first key
    (``account_no``), which without its ``_no`` or ``_id`` names the routes (``post_account``)."""
    path, _, braced = record.rpartition("/")
    key = braced.strip("{}")
    noun = key.removesuffix("_no").removesuffix("_id")

    def work(sandbox: SandboxState, body: Any) -> Answer:
        number, rest = file(sandbox, parse(model, body))
        sandbox.records[partner][number] = answer = {key: number, **rest}
        sandbox.counters[partner].effects += 1
        return Answer(201, answer)

    def read(sandbox: SandboxState, number: str) -> dict[str, Any]:
        if number not in sandbox.records[partner]:
            raise not_found(what, number)
        return sandbox.records[partner][number]

    router = APIRouter(tags=[tag])
    routes.create(router, partner, path, noun=noun, summary=summaries[0], model=model, work=work)
    routes.show(router, partner, path, key=key, noun=noun, summary=summaries[1], read=read)
    return router


@dataclass(frozen=True)
class DistrictOffice(Generic[M]):
    """How the tax bureau, the social insurance bureau and the housing fund centre file: at the
    office of the district where the enterprise is registered (characters 3–8 of its USCC; a USCC
    registered elsewhere is a 400 naming ``area``).

    An enterprise whose name contains the office's ``test_name`` has not reached the office yet
    when it first applies: its first request whose work starts (the first with a new idempotency
    key for that USCC) is refused at once, 422 ``{partner}_record_not_ready`` saying ``not_ready``,
    nothing filed; a later request with a new key is filed.
    """

    partner: Partner
    area: str
    office: Callable[[str], str]
    """The office of a district, by name."""
    test_name: str
    not_ready: Callable[[str, str], str]
    """The refusal's message, given the USCC and the office."""
    number: Callable[[SandboxState, str, datetime], str]
    """A number never given before, given the district and the moment of filing."""
    record: Callable[[M, str, str, datetime], dict[str, Any]]
    """The record's own fields, given the request, the district, the office and the moment."""

    def file(self, sandbox: SandboxState, req: M) -> tuple[str, dict[str, Any]]:
        district = district_of_uscc(req.uscc)
        if district is None:
            raise invalid([("uscc", f"registered in division {req.uscc[2:8]}, outside {self.area}")])
        office = self.office(district)
        if self.test_name in req.enterprise_name and sandbox.refuses_first(self.partner, req.uscc):
            code = f"{self.partner}_record_not_ready"
            log.info(code, application_id=req.application_id, uscc=req.uscc)
            raise PartnerError(422, code, self.not_ready(req.uscc, office), ["uscc"])
        moment = now()
        number = self.number(sandbox, district, moment)
        own = self.record(req, district, office, moment)
        log.info(f"{self.partner}_filed", application_id=req.application_id, number=number, **own)
        return number, {
            "application_id": req.application_id,
            "uscc": req.uscc,
            "enterprise_name": req.enterprise_name,
            **own,
        }
