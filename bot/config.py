"""One settings object for the whole process, read from TORCHTUTOR_* variables and `.env`."""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "change-me", "secret", "replace-me", "xxx", "todo"}


class ConfigError(Exception):
    """A setting has a value torchtutor cannot use; the message names the variable."""


class Settings(BaseSettings):
    """Everything an operator can set. Secrets are SecretStr so they never appear in logs or reprs."""

    model_config = SettingsConfigDict(env_prefix="TORCHTUTOR_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///./var/torchtutor.db"
    worker_backend: Literal["local", "celery"] = "local"
    queue_url: str = "redis://127.0.0.1:6379/0"
    api_token: SecretStr | None = None
    knowledge_paths: str | None = None
    discord_token: SecretStr | None = None
    discord_api_url: str | None = None
    discord_guild_id: int | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    slack_command_prefix: str = ""
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cache_dir: Path = Path("./var/cache")
    # Fused-score thresholds tuned with `torchtutor eval` on ../shared/eval/dev_questions.tsv (README, "Retrieval").
    answer_threshold: float = Field(default=0.44, ge=0.0, le=1.0)
    related_threshold: float = Field(default=0.40, ge=0.0, le=1.0)
    knowledge_poll_seconds: float = Field(default=2.0, ge=0.0)
    encode_batch_size: int = Field(default=64, ge=1, le=1024)
    encode_batch_wait_ms: float = Field(default=0.5, ge=0.0, le=1000.0)
    max_question_chars: int = Field(default=2000, ge=10)
    local_workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a SQLAlchemy URL ({exc})") from None
        return value

    @model_validator(mode="after")
    def _secrets_are_real_outside_development(self) -> Settings:
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if not key or key.lower() in _PLACEHOLDERS or len(key) < 16:
                raise ValueError("TORCHTUTOR_SECRET_KEY must be a real secret of 16+ characters in production")
        return self

    def extra_knowledge_paths(self) -> list[Path]:
        """The `:`-separated TORCHTUTOR_KNOWLEDGE_PATHS as paths."""
        return [Path(p) for p in (self.knowledge_paths or "").split(":") if p.strip()]

    def session_secret(self) -> str:
        """The key that signs dashboard sessions; a per-run random one in development."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _development_secret()

    @property
    def has_discord(self) -> bool:
        return self.discord_token is not None

    @property
    def has_slack(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None


@functools.cache
def _development_secret() -> str:
    return secrets.token_urlsafe(32)


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once; raises ConfigError with one line naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    name = f"TORCHTUTOR_{field.upper()}" if field else "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}"
