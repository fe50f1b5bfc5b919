"""Settings: defaults, environment, secrets, and one clear line for a bad value."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings, get_settings
from tests.conftest import cli


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TORCHTUTOR_DATABASE_URL", "TORCHTUTOR_ENVIRONMENT", "TORCHTUTOR_CACHE_DIR"):
        monkeypatch.delenv(name)
    settings = Settings()
    assert settings.database_url == "sqlite:///./var/torchtutor.db"
    assert settings.worker_backend == "local"
    assert settings.queue_url == "redis://127.0.0.1:6379/0"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.api_token is None and not settings.has_discord and not settings.has_slack


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHTUTOR_DISCORD_TOKEN", "very-secret-token-value")
    settings = get_settings()
    assert settings.has_discord
    assert "very-secret-token-value" not in repr(settings)
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "very-secret-token-value"


def test_knowledge_paths_are_colon_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHTUTOR_KNOWLEDGE_PATHS", "a/b.md::c")
    assert [str(p) for p in get_settings().extra_knowledge_paths()] == ["a/b.md", "c"]


@pytest.mark.parametrize(("name", "value"), [
    ("TORCHTUTOR_DATABASE_URL", "not a url at all"),
    ("TORCHTUTOR_PORT", "eighty"),
    ("TORCHTUTOR_WORKER_BACKEND", "threads"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        get_settings()
    assert str(caught.value).startswith(name + ":")
    assert "\n" not in str(caught.value)


def test_production_refuses_a_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHTUTOR_ENVIRONMENT", "production")
    monkeypatch.setenv("TORCHTUTOR_SECRET_KEY", "changeme")
    with pytest.raises(ConfigError, match="TORCHTUTOR_SECRET_KEY"):
        get_settings()
    monkeypatch.setenv("TORCHTUTOR_SECRET_KEY", "a-long-and-random-production-secret")
    get_settings.cache_clear()
    assert get_settings().session_secret() == "a-long-and-random-production-secret"


def test_development_generates_a_session_secret() -> None:
    secret = get_settings().session_secret()
    assert len(secret) >= 32 and secret == get_settings().session_secret()


def test_cli_reports_a_bad_setting_in_one_line_with_status_2() -> None:
    result = cli("migrate", env={"TORCHTUTOR_DATABASE_URL": "::::"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "TORCHTUTOR_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
