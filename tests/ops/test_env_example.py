"""`.env.example` against bot/config.py's Settings: every setting listed, its default shown, and compose hands
the file to every torchtutor container (while the demo workers get no chat or API credentials)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / ".env.example"
SETTINGS = {f"TORCHTUTOR_{name.upper()}": name for name in Settings.model_fields}
SECRETS = {f"TORCHTUTOR_{name.upper()}" for name, info in Settings.model_fields.items()
           if "SecretStr" in str(info.annotation)}
TORCHTUTOR_SERVICES = ("migrate", "bot", "web", "worker-cpu", "worker-gpu")
WORKERS = ("worker-cpu", "worker-gpu")
SHARED_BY_EVERY_PROCESS = {"TORCHTUTOR_SECRET_KEY"}  # any replica may check a dashboard session


def lines() -> tuple[dict[str, str], set[str]]:
    """The assignments of .env.example, and the names it lists commented out (set by compose instead)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assigned = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE))
    commented = set(re.findall(r"^# (TORCHTUTOR_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    return assigned, commented


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))


def test_every_setting_is_listed_once() -> None:
    assigned, commented = lines()
    listed = {name for name in assigned if name.startswith("TORCHTUTOR_")} | commented
    missing = sorted(set(SETTINGS) - listed)
    assert not missing, f".env.example lacks settings of bot/config.py: {missing}"
    unknown = sorted(listed - set(SETTINGS))
    assert not unknown, f".env.example lists names Settings does not read: {unknown}"
    assert not set(assigned) & commented


def test_the_commented_names_are_exactly_what_compose_fixes(compose: dict[str, Any]) -> None:
    _, commented = lines()
    fixed = {key for key, value in compose["x-core-env"].items() if "${" not in str(value)}
    fixed |= {"TORCHTUTOR_DATABASE_URL"}  # built from POSTGRES_PASSWORD
    assert commented == fixed


def test_the_values_shown_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    from_example = Settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_example.model_dump() == defaults.model_dump()


def test_every_torchtutor_container_reads_the_env_file(compose: dict[str, Any]) -> None:
    for name in TORCHTUTOR_SERVICES:
        assert compose["services"][name]["env_file"] == ".env", name


def test_demo_workers_get_no_chat_or_api_credentials(compose: dict[str, Any]) -> None:
    for name in WORKERS:
        environment = compose["services"][name]["environment"]
        blanked = {key for key, value in environment.items() if value == ""}
        assert blanked == SECRETS - SHARED_BY_EVERY_PROCESS, name


def test_compose_environment_keys_are_settings(compose: dict[str, Any]) -> None:
    for name in TORCHTUTOR_SERVICES:
        unknown = sorted(set(compose["services"][name]["environment"]) - set(SETTINGS))
        assert not unknown, f"{name}: {unknown}"
