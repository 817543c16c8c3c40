"""The workflows' structure holds: one writer of the status document, one partner step.

Read from the source (``ast``), so a stage module that starts writing the status document itself,
or looping over a partner's refusal and an operator's action, fails here before review.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
# The names through which the case's status document is reached.
STATUS_NAMES = {"status", "stages"}


def _chain(node: ast.expr) -> list[str]:
    """``a.b.c[0].d`` -> ["a", "b", "c", "d"]; calls end the chain's interest in names before them."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            names.append(node.id)
            return names[::-1]
        else:
            return names[::-1]


def _writes_to_status(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call):
            func = node.func
            mutating = isinstance(func, ast.Attribute) and func.attr in {
                "append",
                "extend",
                "insert",
                "clear",
            }
            if mutating and STATUS_NAMES & set(_chain(func.value)):  # type: ignore[union-attr]
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
            if isinstance(func, ast.Name) and func.id == "setattr" and node.args:
                if STATUS_NAMES & set(_chain(node.args[0])):
                    found.append(f"line {node.lineno}: {ast.unparse(node)}")
        for target in targets:
            if isinstance(target, ast.Attribute) and STATUS_NAMES & set([*_chain(target.value), target.attr]):
                found.append(f"line {target.lineno}: {ast.unparse(target)}")
    return found


def test_the_status_document_is_written_only_by_the_case_record() -> None:
    writers = {}
    for path in sorted(WORKFLOWS.glob("*.py")):
        if path.name == "case_record.py":
            continue
        found = _writes_to_status(ast.parse(path.read_text(), str(path)))
        if found:
            writers[path.name] = found
    assert writers == {}, f"the status document is written outside CaseRecord: {writers}"


def test_the_checker_sees_a_write_to_the_status_document() -> None:
    """The check above could pass by seeing nothing: it must see the writes it forbids."""
    source = (
        "def f(record, name):\n"
        "    record.status.stages.invoice.state = 'skipped'\n"
        "    record.status.history.append(1)\n"
        "    setattr(record.status.stages, name, 2)\n"
        "    self._record.status.delivery = 3\n"
    )
    assert len(_writes_to_status(ast.parse(source))) == 4


def test_only_the_partner_step_decides_between_a_refusal_and_an_operator() -> None:
    """A stage asks ``PartnerStep.attempt``; no stage races operators or reads a refusal itself."""
    offenders = []
    for path in sorted(WORKFLOWS.glob("*.py")):
        if path.name in {"partner_step.py", "attention.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and (
                node.attr == "race" or (node.attr == "of" and _chain(node.value) == ["PartnerRefusal"])
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


# --- domain/ code that workflows run ---------------------------------------------------------------
# domain/ is passed through the workflow sandbox (worker.PASSED_THROUGH_MODULES), so the sandbox
# does not stop a clock, random number or I/O call there: this test does, for every domain module
# a workflow imports (directly or through another domain module).
DOMAIN = WORKFLOWS.parent / "domain"
NOT_DETERMINISTIC = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
    ("os", "getenv"),
    ("os", "environ"),
    ("random", "*"),
    ("secrets", "*"),
}
# Functions that are not deterministic by design and that no workflow calls (each says who does).
NOT_FOR_WORKFLOWS = {
    ("calendar_coverage", "calendar_coverage"),  # the gateway's health and metrics
    ("policy_files", "load_policy_file"),  # reading a policy file when a case is submitted
}


def _domain_imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("domain."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("domain.")}
    return found


def _domain_used_by_workflows() -> set[str]:
    todo = set().union(*(_domain_imports(ast.parse(p.read_text())) for p in WORKFLOWS.glob("*.py")))
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        seen.add(module)
        todo |= _domain_imports(ast.parse((DOMAIN / f"{module}.py").read_text())) - seen
    return seen


def _undeterministic_calls(module: str) -> list[str]:
    found: list[str] = []
    tree = ast.parse((DOMAIN / f"{module}.py").read_text())
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if (module, function.name) in NOT_FOR_WORKFLOWS:
            continue
        for node in ast.walk(function):
            chain = _chain(node) if isinstance(node, ast.Attribute | ast.Call) else []
            pairs = set(itertools.pairwise(chain))
            if (chain and (chain[0], "*") in NOT_DETERMINISTIC) or pairs & NOT_DETERMINISTIC:
                found.append(f"domain/{module}.py:{node.lineno} {'.'.join(chain)}")
            if isinstance(node, ast.Call) and chain[-1:] == ["open"]:
                found.append(f"domain/{module}.py:{node.lineno} {'.'.join(chain)}")
    return sorted(set(found))


def test_the_domain_code_workflows_run_reads_no_clock_randomness_or_files() -> None:
    used = _domain_used_by_workflows()
    assert {"status", "working_time", "application"} <= used
    found = [call for module in sorted(used) for call in _undeterministic_calls(module)]
    assert not found, f"not deterministic, in domain code a workflow imports: {found}"
