"""A memory cgroup per run, where this machine lets the worker make one (v2 with the memory controller
delegated, or v1's memory hierarchy); without one the jail falls back to RLIMIT_AS alone."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class MemoryCgroup:
    """One run's cgroup: `procs` is the file a process writes its pid to, to join it."""

    path: Path
    version: int

    @property
    def procs(self) -> str:
        return str(self.path / "cgroup.procs")

    @classmethod
    def create(cls, limit_bytes: int, *, root: Path = ROOT) -> MemoryCgroup | None:
        """A new cgroup capped at `limit_bytes` (swap included where the kernel counts it); None where this
        machine does not let us make one."""
        parent = _parent(root)
        if parent is None:
            return None
        path, version = parent
        child = path / f"torchtutor-run-{uuid.uuid4().hex[:12]}"
        try:
            child.mkdir()
        except OSError:
            return None
        cgroup = cls(child, version)
        try:
            if version == 2:
                (child / "memory.max").write_text(str(limit_bytes))
                with contextlib.suppress(OSError):
                    (child / "memory.swap.max").write_text("0")
            else:
                (child / "memory.limit_in_bytes").write_text(str(limit_bytes))
                with contextlib.suppress(OSError):
                    (child / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        except OSError as exc:
            log.warning("could not set up a memory cgroup (%s); using RLIMIT_AS alone", exc)
            cgroup.remove()
            return None
        return cgroup

    def out_of_memory(self) -> bool:
        """Whether the kernel killed something in it for memory (v1: the limit was hit)."""
        try:
            if self.version == 2:
                events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
                return int(events.get("oom_kill", 0)) > 0
            control = dict(line.split() for line in (self.path / "memory.oom_control").read_text().splitlines())
            if "oom_kill" in control:
                return int(control["oom_kill"]) > 0
            return int((self.path / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def remove(self) -> None:
        """Kill anything left in it, then remove it (it empties as the killed processes are reaped)."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    log.warning("could not remove the run's cgroup %s", self.path)
                    return
            self._kill_all()
            time.sleep(0.05)

    def _kill_all(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for pid in Path(self.procs).read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(pid), 9)


def _parent(root: Path) -> tuple[Path, int] | None:
    """Our own memory cgroup, if we may make children there."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and (root / "cgroup.controllers").exists():
            own = root / path.lstrip("/")
            if "memory" in (own / "cgroup.subtree_control").read_text().split() and os.access(own, os.W_OK):
                return own, 2
        elif "memory" in controllers.split(","):
            own = root / "memory" / path.lstrip("/")
            if own.is_dir() and os.access(own, os.W_OK):
                return own, 1
    return None
