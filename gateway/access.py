"""Who calls, as the audit log names them (``service.audit.Access``): the caller the gateway's
authentication settled (``gateway.auth.Caller``).

The actor is the person where the credential names one (a personal ops token, or a session opened
with one); otherwise the shared credential used: ``shared-ops-token``, ``shared-portal-token``.
The client is the address the connection came from (behind a proxy, the server's
forwarded-address handling decides what that is) and its ``User-Agent``.
"""

from __future__ import annotations

from domain.audit import AuditRole
from gateway.auth import Caller, Role
from service.audit import Access


def access_of(caller: Caller) -> Access:
    role: AuditRole = "ops" if caller.role is Role.OPS else "portal"
    return Access(actor=caller.name, role=role, client=caller.client, user_agent=caller.user_agent)
