"""Small test utilities: free ports, polling against a deadline, a served torchtutor process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def served(*args: str, env: dict[str, str] | None = None, ready_timeout: float = 90.0) -> Iterator[str]:
    """`torchtutor serve` in a subprocess; yields its base URL once /healthz answers 200."""
    port = free_port()
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port), *args],
                               env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url, process), timeout=ready_timeout, what=f"{url}/healthz")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _healthy(url: str, process: subprocess.Popen[str]) -> bool:
    if process.poll() is not None:
        output = process.stderr.read() if process.stderr else ""
        raise AssertionError(f"server exited with {process.returncode}: {output}")
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
