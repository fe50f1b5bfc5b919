"""Runs inside the jail, before and after the learner's snippet: no keyboard, figures kept, one report.

This file is copied into each jail read-only and run by the jail's Python; it imports nothing of torchtutor.
The report (JSON on the file descriptor TT_REPORT_FD names) says how the snippet ended and carries its figures
as PNG; the snippet could write there too, but it could only forge its own result.
"""

import base64
import builtins
import io
import json
import linecache
import os
import sys
import traceback

SNIPPET = "/sandbox/snippet.py"
NO_KEYBOARD = "this runner has no keyboard: input() can't read anything here. Put the values in your code instead."
MAX_FIGURES = 4
MAX_PNG_BYTES = 2 * 1024 * 1024


class _NoKeyboard(io.TextIOBase):
    """sys.stdin: every read fails at once with the same clear message, never a hang."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise EOFError(NO_KEYBOARD)

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]  # text, as TextIOBase reads
        raise EOFError(NO_KEYBOARD)


def _no_input(prompt: object = "") -> str:
    if prompt:
        sys.stdout.write(str(prompt))
        sys.stdout.flush()
    raise EOFError(NO_KEYBOARD)


def _cap_gpu_memory() -> None:
    fraction = os.environ.get("TT_GPU_MEMORY_FRACTION")
    if not fraction:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(float(fraction), 0)


def _figures() -> list[str]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    pngs: list[str] = []
    for number in pyplot.get_fignums()[:MAX_FIGURES]:
        buffer = io.BytesIO()
        try:
            pyplot.figure(number).savefig(buffer, format="png", dpi=100)
        except Exception as exc:  # a broken figure must not hide the others
            sys.stderr.write(f"figure {number} could not be drawn: {exc}\n")
            continue
        if buffer.tell() <= MAX_PNG_BYTES:
            pngs.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return pngs


def _last_line(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]


def main() -> None:
    main_pid = os.getpid()
    fd = int(os.environ.pop("TT_REPORT_FD"))
    report = os.fdopen(fd, "w", encoding="utf-8")
    os.set_inheritable(fd, False)
    builtins.input = _no_input
    sys.stdin = _NoKeyboard()
    sys.argv = ["snippet.py"]
    with open(SNIPPET, encoding="utf-8") as handle:
        source = handle.read()
    linecache.cache["<snippet>"] = (len(source), None, source.splitlines(True), "<snippet>")
    error: str | None = None
    try:
        _cap_gpu_memory()
        code = compile(source, "<snippet>", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = f"SystemExit: {exc.code}"
    except BaseException as exc:
        error = _last_line(exc)
        frames = traceback.extract_tb(exc.__traceback__)
        shown = [frame for frame in frames if frame.filename == "<snippet>"] or frames[-1:]
        lines = traceback.format_list(shown) if not isinstance(exc, SyntaxError) else []
        sys.stderr.write("Traceback (most recent call last):\n" + "".join(lines)
                         + "".join(traceback.format_exception_only(type(exc), exc)))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.getpid() != main_pid:  # a child the snippet forked ran off the end: only the snippet itself reports
        os._exit(1 if error else 0)
    json.dump({"done": True, "error": error, "images": _figures()}, report)
    report.close()


main()
