"""requirements.lock (the images) and requirements-dev.lock (`make setup`) against pyproject.toml: every dependency
pinned within its range with sha256 hashes, every pin's own dependencies pinned too (as `--require-hashes` demands),
the two locks agreeing, and torch kept out of both but installed first at pyproject's version."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
RUNTIME = [Requirement(d) for d in PROJECT["dependencies"]]
DEV = RUNTIME + [Requirement(d) for d in PROJECT["optional-dependencies"]["dev"]]
LOCKS = {"requirements.lock": RUNTIME, "requirements-dev.lock": DEV}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def pins(lock: str) -> dict[str, tuple[str, list[str]]]:
    """Each pinned package of a lock: its version and hashes."""
    found: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (REPO / lock).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            found[current] = (match.group(2), [])
        elif line.strip().startswith("--hash=") and current:
            found[current][1].append(line.strip().split("=", 1)[1].rstrip(" \\"))
        elif not line.startswith(" "):
            current = None
    return found


def torch_pin() -> str:
    [torch] = [r for r in RUNTIME if r.name == "torch"]
    return str(torch.specifier).removeprefix("==")


@pytest.mark.parametrize("lock", LOCKS)
def test_every_dependency_is_pinned_in_range_with_hashes(lock: str) -> None:
    locked = pins(lock)
    for requirement in LOCKS[lock]:
        name = canonicalize_name(requirement.name)
        if name == "torch" or (requirement.marker and not requirement.marker.evaluate()):
            continue
        assert name in locked, f"{requirement} is not in {lock}: run `make lock`"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), \
            f"{lock} pins {name}=={version}, outside pyproject's {requirement}: run `make lock`"
    for name, (version, hashes) in locked.items():
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{name}=={version} has no hashes in {lock}"


@pytest.mark.parametrize("lock", LOCKS)
def test_what_the_pins_need_is_pinned_too(lock: str) -> None:
    """Checked for the pins this environment has installed at the locked version (their metadata is at hand)."""
    locked = pins(lock)
    for name, (version, _) in locked.items():
        try:
            if metadata.version(name) != version:
                continue
            needs = [Requirement(r) for r in metadata.requires(name) or []]
        except metadata.PackageNotFoundError:
            continue
        for need in needs:
            if need.marker and not need.marker.evaluate({"extra": ""}):
                continue
            wanted = canonicalize_name(need.name)
            assert wanted == "torch" or wanted in locked, f"{name} needs {need}, which {lock} does not pin"


def test_the_locks_agree_and_leave_torch_out() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert set(runtime) <= set(dev)
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime}
    assert "torch" not in runtime and "torch" not in dev


def test_torch_goes_first_at_pyprojects_version() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    torch_step = makefile.index(f"pip install -q torch=={torch_pin()}\n")
    assert torch_step < makefile.index("--require-hashes -r $(DEV_LOCK)") < makefile.index("--no-deps -e .")
    assert f"ARG TORCH_VERSION={torch_pin()}\n" in (REPO / "Dockerfile").read_text(encoding="utf-8")
