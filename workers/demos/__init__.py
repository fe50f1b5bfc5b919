"""The demo catalogue: look demos up by name and check their parameters. Imports no torch."""

from __future__ import annotations

from types import MappingProxyType

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
_DEMOS = MappingProxyType({module.DEMO.name: module.DEMO for module in _MODULES})


def list_demos() -> list[Demo]:
    """Every registered demo, sorted by name."""
    return [_DEMOS[name] for name in sorted(_DEMOS)]


def get_demo(name: str) -> Demo:
    """The demo called `name` (case and `_`/`-` forgiven), or `UnknownDemo`."""
    key = name.strip().lower().replace("_", "-")
    if key not in _DEMOS:
        raise UnknownDemo(name, sorted(_DEMOS))
    return _DEMOS[key]
