"""The worker's start-up check of the namespace's search attributes, on the dev server."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from infra.temporal import SEARCH_ATTRIBUTES, search_attribute_problems


async def test_ours_are_all_there_of_their_type(dev_env: WorkflowEnvironment) -> None:
    assert await search_attribute_problems(dev_env.client, "default") == []


async def test_a_missing_one_and_one_of_another_type_are_named(dev_env: WorkflowEnvironment) -> None:
    expected = [
        *SEARCH_ATTRIBUTES,
        SearchAttributeKey.for_keyword("NotRegisteredAnywhere"),
        SearchAttributeKey.for_bool("SetupStage"),  # registered as a Keyword
    ]
    assert await search_attribute_problems(dev_env.client, "default", expected) == [
        "NotRegisteredAnywhere (Keyword) is not registered",
        "SetupStage is a Keyword, not a Bool",
    ]
