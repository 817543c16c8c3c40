"""The policies new cases start with, read once when a process starts.

The SLA policy (``ODS_SLA_POLICY``, ``domain.sla_policy``) and the subsidy policy
(``ODS_SUBSIDY_POLICY``, ``domain.subsidy_policy``) are read and validated when the gateway (or
``starter.py submit``) starts: a broken file stops it there, naming the file and the key. Each case
captures the policies into its workflow input; editing a file takes effect when the process that
starts cases is restarted, and never changes a running case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from domain.policy_files import PolicyFileError
from domain.sla_policy import SlaPolicy, load_sla_policy
from domain.subsidy_policy import SubsidyPolicy, load_subsidy_policy

__all__ = ["Policies", "PolicyFileError", "load_policies"]


@dataclass(frozen=True)
class Policies:
    """The SLA and subsidy policies in force (the built-in defaults unless files were given)."""

    sla: SlaPolicy = field(default_factory=SlaPolicy)
    subsidy: SubsidyPolicy = field(default_factory=SubsidyPolicy)


def load_policies(sla_path: Path | None, subsidy_path: Path | None) -> Policies:
    """Both policy files (None: the built-in policy), each read once.

    Raises ``PolicyFileError`` naming, one a line, the file and the key of every problem in either.
    """
    problems: list[str] = []
    sla, subsidy = SlaPolicy(), SubsidyPolicy()
    try:
        sla = load_sla_policy(sla_path)
    except PolicyFileError as exc:
        problems.append(str(exc))
    try:
        subsidy = load_subsidy_policy(subsidy_path)
    except PolicyFileError as exc:
        problems.append(str(exc))
    if problems:
        raise PolicyFileError("\n".join(problems))
    return Policies(sla=sla, subsidy=subsidy)
