"""The demo catalogue: look demos up by name and check their parameters. Imports no torch."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from workers.demos import (
    backward_pass,
    dynamic_graph,
    gpu_speedup,
    hooks_debugging,
    numpy_interop,
    tensor_to_device,
    train_tiny,
)
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.errors import DemoParamError, UnknownDemo

__all__ = [
    "Demo",
    "DemoOutput",
    "DemoParamError",
    "ProgressFn",
    "UnknownDemo",
    "get_demo",
    "list_demos",
    "load_demo_modules",
    "register",
    "validate_params",
]

_MODULES = (
    backward_pass,
    dynamic_graph,
    gpu_speedup,
    hooks_debugging,
    numpy_interop,
    tensor_to_device,
    train_tiny,
)
_DEMOS: dict[str, Demo] = {module.DEMO.name: module.DEMO for module in _MODULES}


def list_demos() -> list[Demo]:
    """Every registered demo, sorted by name."""
    return [_DEMOS[name] for name in sorted(_DEMOS)]


def get_demo(name: str) -> Demo:
    """The demo called `name` (case and `_`/`-` forgiven), or `UnknownDemo`."""
    key = name.strip().lower().replace("_", "-")
    if key not in _DEMOS:
        raise UnknownDemo(name, sorted(_DEMOS))
    return _DEMOS[key]


def register(demo: Demo) -> None:
    """Add a demo to this process's catalogue (plugins, tests); registering the same demo again is a no-op."""
    known = _DEMOS.get(demo.name)
    if known is not None and known is not demo:
        raise ValueError(f"a different demo called {demo.name!r} is already registered")
    _DEMOS[demo.name] = demo


def load_demo_modules(names: Iterable[str]) -> None:
    """Import each named module and register its `DEMO` or `DEMOS` (TORCHTUTOR_DEMO_MODULES: the bot and every
    worker process load the same ones)."""
    for name in names:
        module = importlib.import_module(name)
        for demo in getattr(module, "DEMOS", None) or (module.DEMO,):
            register(demo)
