"""A partner that books: the seal shops take orders, EMS books waybills, the banks book appointments.

A booking (with an ``Idempotency-Key``) is answered 201 with what was booked, under a fresh number;
``GET`` with that number shows it as it now stands (404 for a number never given). The seal shops
and EMS also list a case's bookings, take follow-up calls on one (cancel; amend, redeliver,
return), which need no key because doing one twice is doing it once, and have sandbox controls
that move a held booking along. A partner's module declares its ``Bookings`` and its calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel

from partner_sandbox import routes
from partner_sandbox.behaviour import Partner
from partner_sandbox.calls import Answer, not_found
from partner_sandbox.state import SandboxState
from partner_sandbox.validation import parse

B = TypeVar("B")
Q = TypeVar("Q", bound=BaseModel)


class Bookings(Generic[B]):
    """A partner's bookings, kept as ``B`` (``kept``) and answered as their ``document``.

    ``booking`` is the path of one, as ``/seal-shop/v1/orders/{order_id}``: its number is the
    document's ``order_id`` (and the booking's attribute of that name, if it is an object), the
    bookings are listed as ``orders``, and the routes are named for ``order`` (``post_order``).
    The partner's API is ``router``; its sandbox controls are ``controls``.
    """

    def __init__(
        self,
        partner: Partner,
        booking: str,
        *,
        tag: str,
        what: str,
        kept: Callable[[SandboxState], dict[str, B]],
        document: Callable[[B], dict[str, Any]],
    ) -> None:
        self.partner = partner
        self.path, _, braced = booking.rpartition("/")
        self.key = braced.strip("{}")
        self.noun = self.key.removesuffix("_no").removesuffix("_id")
        self.what = what
        self.kept = kept
        self.document = document
        self.router = APIRouter(tags=[tag])
        self.controls = APIRouter(tags=["sandbox controls"])

    def find(self, sandbox: SandboxState, number: str) -> B:
        """The booking with this number, or ``PartnerError`` 404."""
        booking = self.kept(sandbox).get(number)
        if booking is None:
            raise not_found(self.what, number)
        return booking

    def book(self, summary: str, model: type[Q], work: Callable[[SandboxState, Q], B]) -> None:
        """``POST``: ``work`` books a ``model``; the booking is kept, counted as an effect and
        answered 201."""

        def booked(sandbox: SandboxState, body: Any) -> Answer:
            booking = work(sandbox, parse(model, body))
            document = self.document(booking)
            self.kept(sandbox)[document[self.key]] = booking
            sandbox.counters[self.partner].effects += 1
            return Answer(201, document)

        routes.create(
            self.router, self.partner, self.path, noun=self.noun, summary=summary, model=model, work=booked
        )

    def show(self, summary: str) -> None:
        """``GET`` one booking by its number."""
        routes.show(
            self.router,
            self.partner,
            self.path,
            key=self.key,
            noun=self.noun,
            summary=summary,
            read=lambda sandbox, number: self.document(self.find(sandbox, number)),
        )

    def list_per_case(self, summary: str) -> None:
        """``GET`` the bookings of a case (``?application_id=``), or all, oldest first."""
        routes.list_per_case(
            self.router,
            self.partner,
            self.path,
            plural=self.path.rpartition("/")[2],
            summary=summary,
            documents=lambda sandbox: [self.document(b) for b in self.kept(sandbox).values()],
        )

    def follow_up(
        self,
        verb: str | None,
        summary: str,
        act: Callable[[SandboxState, B, Any], Answer],
        *,
        method: str = "POST",
        status_code: int | None = None,
        model: type[BaseModel] | None = None,
    ) -> None:
        """``{method}`` on a booking (``verb``: on its ``/{verb}``) without an idempotency key;
        ``act`` gets the booking (404 first if there is none) and the parsed JSON body."""
        path = f"{self.path}/{{{self.key}}}" + (f"/{verb}" if verb else "")
        routes.follow_up(
            self.router,
            self.partner,
            path,
            key=self.key,
            name=f"{method.lower()}_{verb or self.noun}",
            summary=summary,
            act=lambda sandbox, number, body: act(sandbox, self.find(sandbox, number), body),
            method=method,
            status_code=status_code,
            model=model,
        )

    def control(
        self,
        path: str,
        summary: str,
        act: Callable[[SandboxState, B], Awaitable[Answer]],
        *,
        name: str | None = None,
        status_code: int | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        done: Callable[[str, Answer], None] | None = None,
    ) -> None:
        """A sandbox control ``POST {path}`` (which names the booking as the API does) on a
        booking, named ``post_{its last word}`` unless ``name`` says otherwise."""

        async def acted(sandbox: SandboxState, number: str) -> Answer:
            return await act(sandbox, self.find(sandbox, number))

        routes.control(
            self.controls,
            path,
            key=self.key,
            name=name or f"post_{path.rpartition('/')[2]}",
            summary=summary,
            act=acted,
            status_code=status_code,
            responses=responses,
            done=done,
        )
