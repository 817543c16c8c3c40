"""The task queues of the service, derived from the one a deployment names (``ODS_TASK_QUEUE``).

The cases' workflows and partner calls run on ``ODS_TASK_QUEUE``; their documents (PDFs drawn with
reportlab, the heaviest CPU work of a case) on ``<ODS_TASK_QUEUE>-documents``, so they are served by
workers of their own (``python worker.py --role documents``) that can be scaled, or moved to
another machine, apart from the cases. The workflow derives the name from its own task queue, so
a test's queue gets a documents queue of its own too.
"""

from __future__ import annotations

DOCUMENTS_SUFFIX = "-documents"


def documents_task_queue(cases_task_queue: str) -> str:
    return f"{cases_task_queue}{DOCUMENTS_SUFFIX}"
