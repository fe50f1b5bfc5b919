"""Links to the official PyTorch documentation, built from the API names an entry's `Docs:` line cites."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

BASE_URL = "https://docs.pytorch.org/docs/stable"
SEARCH_LABEL = "Search the PyTorch documentation"
# Characters of the question put in a search link.
SEARCH_QUERY_LIMIT = 200

# Named notes pages (`Docs: notes/cuda`): the ones PyTorch publishes under docs/stable/notes/.
NOTES = frozenset(
    ["amp_examples", "autograd", "broadcasting", "cpu_threading_torchscript_inference", "cuda", "ddp",
     "extending", "faq", "fsdp", "gradcheck", "hip", "large_scale_deployments", "modules", "mps", "multiprocessing",
     "numerical_accuracy", "randomness", "serialization", "windows"]
)

# Namespaces documented on one hand-written page (anchors per name) rather than one generated page per name.
# Longest prefix wins; a name equal to the prefix links to the page itself.
_PAGES = {
    "torch.amp": "amp",
    "torch.autocast": "amp",
    "torch.backends": "backends",
    "torch.distributed": "distributed",
    "torch.distributed.fsdp": "fsdp",
    "torch.distributed.fsdp.fully_shard": "distributed.fsdp.fully_shard",
    "torch.distributions": "distributions",
    "torch.export": "export",
    "torch.nn.init": "nn.init",
    "torch.onnx": "onnx",
    "torch.profiler": "profiler",
    "torch.utils.checkpoint": "checkpoint",
    "torch.utils.data": "data",
    "torch.utils.tensorboard": "tensorboard",
}
# Namespaces whose members have generated pages, but which themselves are a hand-written page.
_MODULE_PAGES = {
    "torch": "torch",
    "torch.nn": "nn",
    "torch.nn.functional": "nn.functional",
    "torch.autograd": "autograd",
    "torch.cuda": "cuda",
    "torch.func": "func",
    "torch.optim": "optim",
    "torch.ao.quantization": "quantization",
    "torch.accelerator": "accelerator",
    "torch.jit": "jit",
    "torch.Tensor": "tensors",
}
_NAME = re.compile(r"^(?:notes/[a-z_]+|torch(?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")


class UnknownDocsName(ValueError):
    """A `Docs:` name that is neither a notes page nor something torch defines."""


def is_well_formed(name: str) -> bool:
    """Whether a name looks like `notes/<page>` or a dotted `torch...` name (existence is not checked)."""
    return bool(_NAME.match(name)) and (not name.startswith("notes/") or name[len("notes/"):] in NOTES)


def url_for(name: str) -> str:
    """The documentation page (with anchor, where the page documents many names) for an API name or note."""
    if not is_well_formed(name):
        raise UnknownDocsName(f"not an API name or notes page: {name!r}")
    if name.startswith("notes/"):
        return f"{BASE_URL}/{name}.html"
    if name in _MODULE_PAGES:
        return f"{BASE_URL}/{_MODULE_PAGES[name]}.html"
    prefix = max((p for p in _PAGES if name == p or name.startswith(p + ".")), key=len, default=None)
    if prefix is None:
        return f"{BASE_URL}/generated/{name}.html"
    page = f"{BASE_URL}/{_PAGES[prefix]}.html"
    return page if name == prefix else f"{page}#{name}"


def links(names: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    """(label, url) for each well-formed name, in order; malformed ones are left out."""
    return tuple((name, url_for(name)) for name in names if is_well_formed(name))


def search(question: str) -> tuple[str, str]:
    """(label, url) of a search of the official documentation for the question's words."""
    words = " ".join(question.split())[:SEARCH_QUERY_LIMIT]
    return SEARCH_LABEL, f"{BASE_URL}/search.html?q={quote_plus(words)}"


def resolve(name: str) -> Any:
    """The object a dotted torch name stands for in the installed torch; raises UnknownDocsName if none."""
    if name.startswith("notes/"):
        if name[len("notes/"):] not in NOTES:
            raise UnknownDocsName(f"no such notes page: {name}")
        return name
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        module = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module)
        except ImportError as exc:
            # A torch module that needs an optional package (torch.utils.tensorboard needs tensorboard) exists all
            # the same; only its own page can be cited, since its members cannot be looked at.
            if split == len(parts) and not (exc.name or "torch").startswith("torch") and _has_source(parts):
                return module
            continue
        for attribute in parts[split:]:
            if not hasattr(obj, attribute):
                raise UnknownDocsName(f"{name}: {'.'.join(parts[:split])} has no {attribute!r}")
            obj = getattr(obj, attribute)
        return obj
    raise UnknownDocsName(f"{name}: no such module")


def _has_source(parts: list[str]) -> bool:
    """Whether the installed torch ships a module file for the dotted name `parts` (which starts with torch)."""
    import torch

    path = Path(torch.__file__).parent.joinpath(*parts[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
