"""numpy-interop: .numpy() and torch.from_numpy() share memory, and the two errors people meet on the way."""

from __future__ import annotations

from typing import Any

from workers.demos._common import device_note, fit_text, json_safe, source_of
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.device import best_device

PARAMS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def shared_memory() -> dict[str, Any]:
    """Change a tensor through its NumPy view and an array through its tensor view; see the other change."""
    import numpy as np
    import torch

    t = torch.zeros(3)
    a = t.numpy()  # no copy: `a` is a view of t's memory
    a[0] = 7.0
    b = np.zeros(3, dtype=np.float32)
    u = torch.from_numpy(b)  # no copy either
    u[1] = -1.0
    copied = torch.tensor(b)  # torch.tensor(...) always copies
    copied[2] = 5.0
    return {
        "tensor_saw_numpy_write": t[0].item() == 7.0,
        "numpy_saw_tensor_write": bool(b[1] == -1.0),
        "same_data_ptr": a.ctypes.data == t.data_ptr() and b.ctypes.data == u.data_ptr(),
        "torch_tensor_copies": bool(b[2] == 0.0) and copied.data_ptr() != b.ctypes.data,
    }


def requires_grad_fix() -> tuple[str, list[float]]:
    """A tensor that requires grad refuses .numpy(); .detach() gives a view without the graph."""
    import torch

    w = torch.ones(2, requires_grad=True)
    try:
        w.numpy()
        error = ""
    except RuntimeError as exc:
        error = str(exc)
    return error, w.detach().numpy().tolist()


def cuda_fix() -> tuple[str, list[float]]:
    """A CUDA tensor refuses .numpy(); .cpu() copies it to host memory first."""
    import torch

    g = torch.ones(2, device="cuda")
    try:
        g.numpy()
        error = ""
    except (TypeError, RuntimeError) as exc:
        error = str(exc)
    return error, g.cpu().numpy().tolist()


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Measure the sharing, trigger both errors and apply their fixes."""
    validate_params(DEMO, params)
    has_cuda = best_device() == "cuda"
    progress(0.0, "sharing memory")
    shared = shared_memory()
    progress(0.4, "the requires_grad error")
    grad_error, detached = requires_grad_fix()
    cuda_error, from_cuda = None, None
    if has_cuda:
        progress(0.7, "the CUDA error")
        cuda_error, from_cuda = cuda_fix()
    progress(1.0, "done")
    metrics = json_safe(
        {
            **shared,
            "shares_memory": shared["tensor_saw_numpy_write"]
            and shared["numpy_saw_tensor_write"]
            and shared["same_data_ptr"],
            "requires_grad_error": grad_error or None,
            "detach_fix_works": detached == [1.0, 1.0],
            "cuda_error": cuda_error or None,
            "cpu_fix_works": from_cuda == [1.0, 1.0] if has_cuda else None,
            "device": "cuda" if has_cuda else "cpu",
        }
    )
    functions = (shared_memory, requires_grad_fix) + ((cuda_fix,) if has_cuda else ())
    return DemoOutput(
        text=_text(metrics), code=source_of(*functions), metrics=metrics, device=metrics["device"]
    )


def _first_line(message: str | None, limit: int = 160) -> str:
    """The first line of an error message, cut for chat."""
    line = (message or "no error").splitlines()[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _yes(flag: bool) -> str:
    """yes or NO."""
    return "yes" if flag else "NO"


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    lines = [
        "**NumPy interop**: `.numpy()` and `torch.from_numpy()` share memory with the original; no copy.",
        f"• wrote 7 into `t.numpy()[0]`, tensor `t` saw it: {_yes(m['tensor_saw_numpy_write'])}",
        f"• wrote -1 into `torch.from_numpy(b)[1]`, array `b` saw it: {_yes(m['numpy_saw_tensor_write'])}",
        f"• same address (`data_ptr()`): {_yes(m['same_data_ptr'])}; `torch.tensor(b)` copies instead: "
        f"{_yes(m['torch_tensor_copies'])}",
        f"Requires grad: `w.numpy()` raised `RuntimeError: {_first_line(m['requires_grad_error'])}`",
        f"Fix: `w.detach().numpy()` works: {_yes(m['detach_fix_works'])}.",
    ]
    if m["cuda_error"] is None:
        lines.append(
            f"CUDA: {device_note('cpu')} So the CUDA part was skipped: on a GPU, `g.numpy()` raises a "
            "TypeError and `g.cpu().numpy()` fixes it."
        )
    else:
        lines.append(f"CUDA: `g.numpy()` raised `{_first_line(m['cuda_error'])}`")
        lines.append(f"Fix: `g.cpu().numpy()` works: {_yes(m['cpu_fix_works'])}.")
    return fit_text("\n".join(lines))


DEMO = Demo(
    name="numpy-interop",
    title="Tensors and NumPy arrays",
    summary="Shows .numpy()/from_numpy() sharing memory, and the requires_grad and CUDA errors and fixes.",
    params=PARAMS,
    run=run,
    time_limit_s=10.0,
    queue="cpu",
    tags=("numpy", "basics", "memory"),
)
