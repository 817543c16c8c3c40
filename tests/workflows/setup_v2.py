"""Version 2 of ``EnterpriseSetup`` for the rollout test (tests/workflows/test_releases.py): a
change made without a patch, one more command before anything else. A version-1 case replayed on
it would fail; under Worker Versioning it never is."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from domain.partners import SetupInput
    from domain.status import StatusDocument

from workflows.enterprise_setup import EnterpriseSetup


@workflow.defn(name="EnterpriseSetup", versioning_behavior=VersioningBehavior.PINNED)
class EnterpriseSetupV2(EnterpriseSetup):
    @workflow.run
    async def run(self, input: SetupInput) -> StatusDocument:
        await workflow.sleep(timedelta(milliseconds=1))
        return await super().run(input)
