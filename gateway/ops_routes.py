"""The routers whose routes read the service database for the ops token (the daily report, the
subsidy ledger): their bearer check and their answers besides 200, said once."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from gateway.auth import ops_access
from gateway.bodies import BodyRoute
from gateway.models import Detail, FieldErrors


def ops_read_router(prefix: str, tag: str, bad_parameter: str) -> APIRouter:
    """``bad_parameter``: what a 422 there means."""
    return APIRouter(
        route_class=BodyRoute,
        prefix=prefix,
        tags=[tag],
        dependencies=[Depends(ops_access)],
        responses={
            401: {"model": Detail, "description": "missing or wrong bearer token (the ops token)"},
            422: {"model": FieldErrors, "description": bad_parameter},
            503: {"model": Detail, "description": "the service database is unreachable; try again"},
        },
    )
