"""What a router of the gateway may hold: HTTP translated to the service layer and back, nothing more.

Use cases (a loop, a Temporal client's call, SQL) live in ``service/``, which the gateway and
``starter.py`` both call; a router reads each body as ``gateway/bodies.py`` says (``BodyRoute``).
Read from each module's source, so that a new router is held to it without being listed here.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from fastapi import APIRouter

from gateway.bodies import BodyRoute

ROUTERS = Path(__file__).resolve().parents[2] / "gateway" / "routers"
MODULES = sorted(p for p in ROUTERS.glob("*.py") if p.name != "__init__.py")

LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# What a Temporal client (``temporalio.client.Client``) or a workflow handle is asked to do.
TEMPORAL_CALLS = frozenset(
    {
        "start_workflow",
        "execute_workflow",
        "signal_with_start_workflow",
        "get_workflow_handle",
        "get_workflow_handle_for",
        "list_workflows",
        "count_workflows",
        "start_update",
        "execute_update",
        "start_update_with_start_workflow",
        "execute_update_with_start_workflow",
        "get_update_handle",
        "signal",
        "query",
        "describe",
        "terminate",
        "cancel",
        "result",
        "fetch_history",
    }
)
# SQL is written in store/; a router may name the errors a database raises, nothing else of it.
SQL_CALLS = frozenset({"execute", "scalar", "scalars", "text", "select", "insert", "update", "delete"})
ALLOWED_SQLALCHEMY = frozenset({"sqlalchemy.exc"})


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.name}:{getattr(node, 'lineno', '?')}"


def _imported_modules(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    found: list[tuple[ast.AST, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.append((node, node.module))
    return found


def _called_names(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    found: list[tuple[ast.AST, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                found.append((node, func.attr))
            elif isinstance(func, ast.Name):
                found.append((node, func.id))
    return found


def test_there_are_routers_to_check() -> None:
    assert {p.stem for p in MODULES} >= {"alerts", "applications", "callbacks", "codec"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_router_holds_no_loop(path: Path) -> None:
    loops = [_where(path, n) for n in ast.walk(_tree(path)) if isinstance(n, LOOPS)]
    assert not loops, f"loops belong in service/: {loops}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_router_makes_no_temporal_client_call(path: Path) -> None:
    tree = _tree(path)
    imports = [_where(path, n) for n, name in _imported_modules(tree) if name.split(".")[0] == "temporalio"]
    calls = [f"{_where(path, n)} {name}" for n, name in _called_names(tree) if name in TEMPORAL_CALLS]
    assert not imports and not calls, f"Temporal is service/'s to call: {imports + calls}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_router_holds_no_sql(path: Path) -> None:
    tree = _tree(path)
    imports = [
        _where(path, n)
        for n, name in _imported_modules(tree)
        if name.split(".")[0] == "sqlalchemy" and name not in ALLOWED_SQLALCHEMY
    ]
    calls = [f"{_where(path, n)} {name}" for n, name in _called_names(tree) if name in SQL_CALLS]
    assert not imports and not calls, f"SQL is store/'s: {imports + calls}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_every_route_reads_its_body_as_gateway_bodies_says(path: Path) -> None:
    module = importlib.import_module(f"gateway.routers.{path.stem}")
    router = module.router
    assert isinstance(router, APIRouter)
    assert router.routes, f"{path.name} has no routes"
    assert all(isinstance(route, BodyRoute) for route in router.routes), path.name


def test_the_checks_see_what_they_look_for() -> None:
    source = """
async def handler(client, conn):
    for item in [x for x in range(3)]:
        pass
    await client.start_workflow("W")
    await conn.execute(text("SELECT 1"))
"""
    tree = ast.parse(source)
    assert sum(isinstance(n, LOOPS) for n in ast.walk(tree)) == 2
    names = {name for _, name in _called_names(tree)}
    assert names & TEMPORAL_CALLS == {"start_workflow"}
    assert names & SQL_CALLS == {"execute", "text"}
