"""Scale-out: processes share state only through PostgreSQL and Redis, so the code keeps none at module level.

A static guard over bot/, knowledge/ and workers/: no `global` statements; module-level containers are constants
(UPPER_CASE names, never mutated); process-wide caches only where each process may hold its own copy. State that
must be shared (sessions, jobs, quiz rounds, schedules, rate limits) belongs in the database or Redis.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "knowledge", "workers")
CONTAINER_CALLS = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter", "WeakValueDictionary",
                   "WeakKeyDictionary", "WeakSet"}
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "clear", "remove",
            "discard", "__setitem__", "__delitem__"}
CACHE_DECORATORS = ("cache", "lru_cache", "cached_property")
# Process-wide caches that are right per process: (path, function) -> why.
PER_PROCESS_CACHES = {
    ("bot/config.py", "get_settings"): "each process reads its own environment once",
    ("bot/config.py", "_development_secret"): "development only; production requires TORCHTUTOR_SECRET_KEY",
    ("knowledge/embedder.py", "get_embedder"): "the model, read-only, loaded once per process",
    ("bot/db/migrate.py", "_scripts"): "the migration files shipped with the code, read-only",
    ("bot/core/admin/accounts.py", "_dummy_hash"): "a constant hash of a fixed string, for timing-safe refusals",
    ("workers/celery_app.py", "_app_from_environment"): "`celery -A workers.celery_app` needs a module-level app",
    ("knowledge/lexical.py", "_import_bm25s"): "a lazily imported library module, the same in every process",
    ("knowledge/calibration.py", "sentinels"): "the sentinel questions shipped with the code, read-only",
    ("workers/sandbox/job.py", "worker_jail"): "this worker's own jail, self-tested once, bound to its own GPU",
}
# Registries filled only while modules import, so every process holds the same declarations: (path, name) -> why.
IMPORT_TIME_REGISTRIES = {
    ("bot/web/dashboard/tables.py", "_REGISTRY"): "dashboard table declarations, registered at import",
    ("workers/demos/__init__.py", "_DEMOS"): "the demo catalogue: code, loaded alike by every process from settings",
}
# `global` names that hold a per-process handle, not shared state: (path, name) -> why.
PER_PROCESS_GLOBALS = {
    ("workers/celery_app.py", "_worker_app"): "this worker process's Celery app, set once by worker_init",
}


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


def _is_container(value: ast.expr) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        return (func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")) in CONTAINER_CALLS
    return False


def _assignments(node: ast.stmt) -> list[tuple[ast.expr, ast.expr]]:
    if isinstance(node, ast.Assign):
        return [(target, node.value) for target in node.targets]
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [(node.target, node.value)]
    return []


def _problems(path: Path) -> list[str]:
    relative = path.relative_to(REPO).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
    found: list[str] = []
    containers: set[str] = set()
    for node in tree.body:
        for target, value in _assignments(node):
            if isinstance(target, ast.Name) and _is_container(value):
                if (relative, target.id) in IMPORT_TIME_REGISTRIES:
                    continue
                containers.add(target.id)
                if target.id != "__all__" and target.id.lstrip("_") != target.id.lstrip("_").upper():
                    found.append(f"{relative}:{node.lineno}: module-level container {target.id}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                if any(name in ast.unparse(decorator) for name in CACHE_DECORATORS) \
                        and (relative, node.name) not in PER_PROCESS_CACHES:
                    found.append(f"{relative}:{node.lineno}: process-wide cache on {node.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Global) and not all((relative, n) in PER_PROCESS_GLOBALS for n in node.names):
            found.append(f"{relative}:{node.lineno}: global {', '.join(node.names)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in containers \
                and node.func.attr in MUTATORS:
            found.append(f"{relative}:{node.lineno}: mutates module-level {node.func.value.id}")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                        and target.value.id in containers:
                    found.append(f"{relative}:{node.lineno}: mutates module-level {target.value.id}")
    return found


def test_no_module_level_state() -> None:
    problems = [problem for path in _modules() for problem in _problems(path)]
    assert not problems, "state outside PostgreSQL and Redis:\n" + "\n".join(problems)


@pytest.mark.parametrize(("source", "expected"), [
    ("sessions = {}\n", "module-level container sessions"),
    ("JOBS = {}\ndef f(j):\n    JOBS[j.id] = j\n", "mutates module-level JOBS"),
    ("PENDING = []\ndef f(x):\n    PENDING.append(x)\n", "mutates module-level PENDING"),
    ("count = 0\ndef f():\n    global count\n    count += 1\n", "global count"),
    ("import functools\n@functools.lru_cache\ndef rounds(channel):\n    return []\n", "process-wide cache on rounds"),
])
def test_the_guard_sees_the_usual_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str,
                                         expected: str) -> None:
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    module = tmp_path / "bot" / "state.py"
    module.parent.mkdir()
    module.write_text(source)
    assert any(expected in problem for problem in _problems(module))
