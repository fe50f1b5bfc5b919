"""How `torchtutor serve` sets up its process for speed: checked here, measured by benchmarks/ask.py (never here).

Each runs a fresh interpreter: both settings are process-wide and would leak into the rest of the test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_torchtutor_command_runs_numpy_on_one_blas_thread() -> None:
    """OpenBLAS's idle worker spins between the index's small matrix products; the command keeps one thread."""
    code = ("import contextlib, threadpoolctl\n"
            "from bot.cli.main import main\n"
            "with contextlib.suppress(SystemExit): main(['--help'])\n"
            "after = {p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'}\n"
            "print(sorted(after))")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    assert run_python(code, env) == "[1]"  # numpy's own choice is a thread per core


def test_serve_freezes_what_start_up_loaded_out_of_the_garbage_collector(migrated: Settings) -> None:
    """After start-up, a full collection under load walks only what was made since, not every module and index."""
    code = ("import asyncio, gc\n"
            "from bot.cli import serve_cmd\n"
            "from bot.cli.main import main\n"
            "seen = [gc.get_freeze_count()]\n"
            "async def lifespan_only(runtime, *args, **kwargs):\n"
            "    await asyncio.to_thread(runtime.start)\n"  # what the web app's lifespan does
            "    seen.append(gc.get_freeze_count())\n"
            "    runtime.close()\n"
            "serve_cmd.serve_all = lifespan_only\n"
            "main(['serve', '--port', '0'])\n"
            "print(*seen)")
    before, after = map(int, run_python(code, dict(os.environ)).split())
    assert before == 0
    assert after > 10_000  # the modules alone are tens of thousands of objects
