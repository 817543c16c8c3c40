"""The fixtures of the workflow tests that run a workflow beside stand-ins of their own
(tests/workflows/delivery_harness.py, tests/workflows/portal_push_harness.py)."""

from tests.workflows.delivery_harness import postal_harness  # noqa: F401
from tests.workflows.portal_push_harness import portal  # noqa: F401
