"""The service's Worker Deployment on Temporal: which build takes new cases (docs/operations.md,
releases). Workers join it as versions (``worker.deployment_config``); this module reads it and
moves its current and ramping versions, for ``starter.py deployment`` and a worker's first start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import temporalio.api.workflowservice.v1 as wsv1
from temporalio.api.enums.v1 import VersionDrainageStatus
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from infra.settings import Settings


@dataclass(frozen=True)
class VersionState:
    build_id: str
    drainage: str
    """``draining``: pinned executions still run on it; ``drained``: none do, its workers may stop."""


@dataclass(frozen=True)
class DeploymentState:
    name: str
    current: str | None
    ramping: str | None
    ramp_percentage: float
    versions: list[VersionState]


def _drainage(status: int) -> str:
    return {
        VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINING: "draining",
        VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED: "drained",
    }.get(status, "-")  # type: ignore[call-overload]


# What a busy server answers now and then to a call that a moment later succeeds.
TRANSIENT = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE)


async def describe(client: Client, name: str) -> DeploymentState | None:
    """The deployment ``name``, or None when no worker has joined it yet."""
    try:
        answer = await client.workflow_service.describe_worker_deployment(
            wsv1.DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = answer.worker_deployment_info
    routing = info.routing_config
    return DeploymentState(
        name=name,
        current=routing.current_deployment_version.build_id or None,
        ramping=routing.ramping_deployment_version.build_id or None,
        ramp_percentage=routing.ramping_version_percentage,
        versions=[
            VersionState(build_id=v.deployment_version.build_id, drainage=_drainage(v.drainage_status))
            for v in info.version_summaries
        ],
    )


async def set_current(client: Client, name: str, build_id: str) -> None:
    """New executions (and those that upgrade) go to ``build_id``; pinned ones stay where they are."""
    await client.workflow_service.set_worker_deployment_current_version(
        wsv1.SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace, deployment_name=name, build_id=build_id
        )
    )


async def set_ramping(client: Client, name: str, build_id: str, percentage: float) -> None:
    """``percentage`` of new executions go to ``build_id``, the rest to the current version."""
    await client.workflow_service.set_worker_deployment_ramping_version(
        wsv1.SetWorkerDeploymentRampingVersionRequest(
            namespace=client.namespace, deployment_name=name, build_id=build_id, percentage=percentage
        )
    )


async def adopt_if_first(client: Client, settings: Settings, *, attempts: int = 40) -> bool:
    """Make this worker's build current when the deployment has no current version yet (its first
    release, or a stack started afresh); True if it did. A later build never takes over by itself:
    that is the rollout's decision (``starter.py deployment current``). The version exists once
    the worker has polled, so a version not yet known is asked again for a while."""
    name, build_id = settings.worker_deployment, settings.worker_build_id
    for attempt in range(attempts):
        try:
            state = await describe(client, name)
        except RPCError as err:
            # A busy server may cancel or time out the call: asked again, like a version not yet known.
            if err.status not in TRANSIENT or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25)
            continue
        if state is not None and state.current is not None:
            return False
        if state is not None and any(v.build_id == build_id for v in state.versions):
            try:
                await set_current(client, name, build_id)
            except RPCError as err:
                if err.status != RPCStatusCode.FAILED_PRECONDITION or attempt == attempts - 1:
                    raise
            else:
                return True
        await asyncio.sleep(0.25)
    raise RuntimeError(f"the build {build_id} never joined the Worker Deployment {name}")
