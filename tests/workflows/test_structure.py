"""The workflows' structure holds: one writer of the status document, one partner step.

Read from the source (``ast``), so a stage module that starts writing the status document itself,
or looping over a partner's refusal and an operator's action, fails here before review.
"""

from __future__ import annotations

import ast
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
