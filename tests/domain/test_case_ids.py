"""The workflow ids of a case, and the case a workflow id names (domain/case_ids.py)."""

from __future__ import annotations

from domain.case_ids import (
    DELIVERY_WORKFLOW_TYPE,
    WORKFLOW_TYPE,
    application_id_of,
    case_application_id,
    case_of_workflow,
    delivery_workflow_id,
    follow_up_workflow_id,
    workflow_id_for,
)


def test_a_case_and_its_delivery_child_name_the_application() -> None:
    case = workflow_id_for("AY20261127-0001")
    assert case == "setup-AY20261127-0001"
    assert application_id_of(case) == "AY20261127-0001"
    assert case_application_id(case, WORKFLOW_TYPE) == "AY20261127-0001"
    child = delivery_workflow_id(case)
    assert child == "setup-AY20261127-0001-delivery"
    assert case_application_id(child, DELIVERY_WORKFLOW_TYPE) == "AY20261127-0001"


def test_an_application_id_ending_in_delivery_is_kept_whole_for_the_case_itself() -> None:
    case = workflow_id_for("AY-0001-delivery")
    assert case_application_id(case) == "AY-0001-delivery"
    assert case_application_id(delivery_workflow_id(case), DELIVERY_WORKFLOW_TYPE) == "AY-0001-delivery"


def test_a_workflow_of_no_case_names_none() -> None:
    assert case_application_id("alert-webhooks-000000000001-abcd") is None
    assert case_application_id("setup-") is None


def test_a_bad_ratings_follow_up_and_its_push_belong_to_the_case() -> None:
    follow_up = follow_up_workflow_id("AY20261127-0001")
    assert follow_up == "rating-follow-up-setup-AY20261127-0001"
    assert case_of_workflow(follow_up) == "AY20261127-0001"
    assert case_of_workflow(f"portal-push-{follow_up}") == "AY20261127-0001"
    # Follow-ups opened before they were named after their case name none: the master key's.
    assert case_of_workflow("rating-follow-up-rt-71879578141d4c8b911b") is None
    assert case_of_workflow("portal-push-rating-follow-up-rt-71879578141d4c8b911b") is None
