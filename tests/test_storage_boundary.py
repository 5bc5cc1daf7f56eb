"""Storage is the only code that talks to Redis, and it sits at the bottom of the dependency graph.

Every module of ``src/api_connector`` is parsed (not imported): outside ``storage/`` none may import the
client library (``redis``, ``redis.asyncio``, ``redis.exceptions``...), name it (``redis.<name>``), or hold
a Lua script (``redis.call(`` in a string); inside ``storage/`` none may import the layers above it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "api_connector"
STORAGE = PACKAGE / "storage"
# What docs/ARCHITECTURE.md draws above storage (storage may use core types, errors and settings).
ABOVE_STORAGE = {"api", "sdk", "cli", "pipeline", "capabilities", "routing", "governance", "observability"}
_LUA = re.compile(r"\bredis\.p?call\(")


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import, wherever it stands (TYPE_CHECKING blocks, functions)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def redis_uses(source: str) -> list[str]:
    """Where ``source`` imports or names the Redis client library, or carries a Lua script."""
    tree = ast.parse(source)
    uses = [f"line {line}: imports {name}" for line, name in _imported(tree) if name.split(".")[0] == "redis"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "redis":
            uses.append(f"line {node.lineno}: names redis.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _LUA.search(node.value):
            uses.append(f"line {node.lineno}: holds a Lua script")
    return uses


def upward_imports(source: str) -> list[str]:
    """Where ``source`` imports a layer above storage."""
    uses = []
    for line, name in _imported(ast.parse(source)):
        parts = name.split(".")
        if parts[0] == "api_connector" and len(parts) > 1 and parts[1].split("_")[0] in ABOVE_STORAGE:
            uses.append(f"line {line}: imports {name}")
    return uses


def test_no_module_outside_storage_talks_to_redis() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): uses
        for path in _modules(PACKAGE)
        if STORAGE not in path.parents and (uses := redis_uses(path.read_text()))
    }
    assert offenders == {}


def test_storage_imports_nothing_above_it() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): uses for path in _modules(STORAGE) if (uses := upward_imports(path.read_text()))
    }
    assert offenders == {}


def test_redis_is_still_used_somewhere_the_walk_looks() -> None:
    # The walk reads the real tree: storage does talk to Redis, so an empty walk would mean a wrong path.
    assert any(redis_uses(path.read_text()) for path in _modules(STORAGE))


@pytest.mark.parametrize(
    "source",
    [
        "import redis",
        "import redis.asyncio as aioredis",
        "from redis.exceptions import RedisError",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from redis.asyncio import Redis",
        "def f():\n    from redis import asyncio",
        "def f(client):\n    return redis.exceptions.RedisError",
        "SCRIPT = \"return redis.call('GET', KEYS[1])\"",
    ],
)
def test_each_way_of_reaching_redis_is_seen(source: str) -> None:
    assert redis_uses(source)


@pytest.mark.parametrize(
    "source",
    [
        "from api_connector.storage.redis import SharedRedis",
        "from api_connector.storage.shared_state import SharedState",
        "redis_url = settings.resolved_redis_url()",
        "shared.redis_key_prefix",
    ],
)
def test_storage_objects_and_settings_are_not_redis(source: str) -> None:
    assert redis_uses(source) == []


def test_an_upward_import_from_storage_is_seen() -> None:
    assert upward_imports("from api_connector.governance.ratelimit import Rule")
    assert upward_imports("import api_connector.cli_credentials")
    assert upward_imports("from api_connector.core.usage import Usage") == []
