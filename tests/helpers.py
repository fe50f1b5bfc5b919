"""Small test utilities: free ports, polling against a deadline, a served torchtutor process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Served:
    """A `torchtutor serve` subprocess: its base URL, the process, and the file its stderr (the log) goes to."""

    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        """Everything it has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


# A served process encodes the whole knowledge pack when the session's embedding cache is still cold (150 entries:
# over a minute on a busy two-core machine); readiness gets room for that.
READY_TIMEOUT_S = 180.0


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None, ready_timeout: float = READY_TIMEOUT_S) -> Iterator[Served]:
    """`torchtutor serve` in a subprocess, logging to a file (a pipe nobody reads could fill and block it)."""
    port = free_port()
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="tt-served-") as folder:
        log_path = Path(folder) / "stderr.log"
        with log_path.open("w", encoding="utf-8") as log_file:
            process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port), *args],
                                       env=full_env, stdout=subprocess.DEVNULL, stderr=log_file, text=True)
        server = Served(f"http://127.0.0.1:{port}", process, log_path)
        try:
            wait_until(lambda: _healthy(server), timeout=ready_timeout, what=f"{server.url}/healthz")
            yield server
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def served(*args: str, env: dict[str, str] | None = None, ready_timeout: float = READY_TIMEOUT_S) -> Iterator[str]:
    """`torchtutor serve` in a subprocess; yields its base URL once /healthz answers 200."""
    with serving(*args, env=env, ready_timeout=ready_timeout) as server:
        yield server.url


def _healthy(server: Served) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"server exited with {server.process.returncode}: {server.log()}")
    try:
        return httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
