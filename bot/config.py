"""One settings object for the whole process, read from TORCHTUTOR_* variables and `.env`."""

from __future__ import annotations

import functools
import ipaddress
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.db.journal import JournalSettings

_PLACEHOLDERS = {"changeme", "change-me", "secret", "replace-me", "xxx", "todo"}
LOCAL_HOST_NAMES = ("localhost", "127.0.0.1", "::1")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """A setting has a value torchtutor cannot use; the message names the variable."""


class Settings(BaseSettings):
    """Everything an operator can set. Secrets are SecretStr so they never appear in logs or reprs."""

    # Empty values count as unset, so a compose file can pass `${TORCHTUTOR_X:-}` through for optional settings.
    model_config = SettingsConfigDict(env_prefix="TORCHTUTOR_", env_file=".env", extra="ignore", env_ignore_empty=True)

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///./var/torchtutor.db"
    worker_backend: Literal["local", "celery"] = "local"
    queue_url: str = "redis://127.0.0.1:6379/0"
    api_token: SecretStr | None = None
    knowledge_paths: str | None = None
    discord_token: SecretStr | None = None
    discord_api_url: str | None = None
    discord_guild_id: int | None = None
    # Ask Discord for the privileged Message Content intent (switch it on in the Developer Portal first): needed to
    # read posts that do not mention the bot, i.e. auto-answer channels and follow-ups without a mention.
    discord_message_content: bool = False
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    slack_command_prefix: str = ""
    # Slack user ids (comma-separated) who may schedule study channels besides workspace admins and owners.
    slack_channel_admins: str = ""
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cache_dir: Path = Path("./var/cache")
    # Fused-score thresholds; unset, they are fitted to the loaded knowledge (knowledge/calibration.py, README
    # "Retrieval and abstention"). Set, they are used as they are (related: answer - 0.04 when only answer is set).
    answer_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    related_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # Auto-answer channels answer only above the answer threshold plus this margin, and at most this many posts a
    # minute per channel (the rest are recorded as gaps, unanswered).
    autoanswer_margin: float = Field(default=0.08, ge=0.0, le=1.0)
    autoanswer_per_minute: int = Field(default=6, ge=1, le=600)
    knowledge_poll_seconds: float = Field(default=2.0, ge=0.0)
    # The sentence encoder: `onnx` (ONNX Runtime, exported from the packaged weights; no torch in the process) or
    # `torch` (sentence-transformers); both give the same answers. Threads: ONNX Runtime's per encode, 0 = per core.
    encoder_backend: Literal["onnx", "torch"] = "onnx"
    # Read the vectors of the bundled knowledge pack encoded at install time (knowledge/seed.py); off, a first start
    # encodes it (the benchmark's cold start).
    embedding_seed: bool = True
    encoder_threads: int = Field(default=0, ge=0, le=64)
    encode_batch_size: int = Field(default=64, ge=1, le=1024)
    encode_batch_wait_ms: float = Field(default=0.5, ge=0.0, le=1000.0)
    max_question_chars: int = Field(default=2000, ge=10)
    local_workers: int = Field(default=1, ge=1, le=64)
    jobs_per_person: int = Field(default=2, ge=1, le=100)
    job_queue_limit: int = Field(default=20, ge=1, le=10_000)
    job_queue_timeout_s: float = Field(default=600.0, gt=0)
    job_reap_margin_s: float = Field(default=30.0, ge=0)
    job_max_attempts: int = Field(default=3, ge=1, le=20)
    worker_max_tasks_per_child: int = Field(default=100, ge=1)
    # /run: learners' snippets, always in the bubblewrap sandbox (README, "Running snippets: /run").
    run_enabled: bool = False
    run_time_limit_s: float = Field(default=10.0, gt=0, le=300)
    run_memory_mb: int = Field(default=2048, ge=256, le=1_048_576)
    run_gpu_memory_fraction: float = Field(default=0.5, gt=0, le=1.0)
    run_queue: Literal["gpu", "cpu"] = "gpu"
    demo_modules: str | None = None
    log_level: str = "INFO"
    # Quizzes: questions in a personal quiz and in a team round, seconds each team-round question stays open,
    # and how often the study scheduler looks for due work.
    quiz_questions: int = Field(default=5, ge=1, le=20)
    quiz_round_questions: int = Field(default=3, ge=1, le=20)
    quiz_round_window_s: int = Field(default=60, ge=5, le=3600)
    study_tick_s: float = Field(default=30.0, ge=1.0, le=3600.0)
    log_format: Literal["json", "text"] | None = None  # None: json in production, text elsewhere
    database_pool_size: int = Field(default=5, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_pool_timeout: float = Field(default=30.0, gt=0)
    database_pool_recycle: int = Field(default=1800, ge=-1)
    # A statement waits this long for a lock another connection holds (SQLite busy timeout, PostgreSQL
    # lock_timeout) before the request is refused with 503 or its record is kept for a retry.
    database_lock_timeout_s: float = Field(default=5.0, gt=0, le=600)
    # Records the database could not take (questions, feedback, quiz answers, job results): first retry, longest
    # pause between retries, how long one is retried before it is counted lost, and how many may wait at once.
    db_retry_first_s: float = Field(default=0.5, gt=0, le=600)
    db_retry_max_s: float = Field(default=5.0, gt=0, le=600)
    db_retry_window_s: float = Field(default=300.0, gt=0)
    db_retry_max_records: int = Field(default=10_000, ge=1)
    # Share of the demo queue (TORCHTUTOR_JOB_QUEUE_LIMIT) anonymous playground visitors may fill together.
    playground_queue_share: float = Field(default=0.25, ge=0.0, le=1.0)
    metrics_token: SecretStr | None = None
    metrics_public: bool = False
    shutdown_timeout: float = Field(default=20.0, gt=0, le=3600)
    # Trust boundaries of the web app: peers whose forwarded headers are believed, and the Host names it answers.
    trusted_proxies: str | None = None
    allowed_hosts: str | None = None

    @field_validator("slack_command_prefix")
    @classmethod
    def _slack_prefix_fits_a_command_name(cls, value: str) -> str:
        value = value.strip().lstrip("/")
        if value and not re.fullmatch(r"[a-z0-9_-]{1,20}", value):
            raise ValueError("use up to 20 lowercase letters, digits, '-' or '_' (Slack command names)")
        return value

    @field_validator("slack_channel_admins")
    @classmethod
    def _slack_channel_admins_are_user_ids(cls, value: str) -> str:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        bad = [part for part in ids if not re.fullmatch(r"[UW][A-Z0-9]{2,}", part)]
        if bad:
            raise ValueError(f"not Slack user ids (like U012AB3CD): {', '.join(bad)}")
        return ",".join(ids)

    @property
    def slack_channel_admin_ids(self) -> frozenset[str]:
        """The Slack users of TORCHTUTOR_SLACK_CHANNEL_ADMINS."""
        return frozenset(part for part in self.slack_channel_admins.split(",") if part)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url_ends_with_a_slash(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str | None) -> str | None:
        _networks(value or "")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_names(cls, value: str | None) -> str | None:
        for name in _names(value or ""):
            if re.search(r"[\s/@]", name) or "*" in name.removeprefix("*.").removeprefix("*"):
                raise ValueError(f"{name!r} is not a host name (e.g. bot.example.com, *.example.com)")
        return value

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

    @model_validator(mode="after")
    def _log_format_follows_environment(self) -> Settings:
        if self.log_format is None:
            self.log_format = "json" if self.environment == "production" else "text"
        return self

    def extra_knowledge_paths(self) -> list[Path]:
        """The `:`-separated TORCHTUTOR_KNOWLEDGE_PATHS as paths."""
        return [Path(p) for p in (self.knowledge_paths or "").split(":") if p.strip()]

    def demo_module_names(self) -> list[str]:
        """Extra demo modules (TORCHTUTOR_DEMO_MODULES, `,`- or `:`-separated), each defining `DEMO` or `DEMOS`."""
        return [name.strip() for name in (self.demo_modules or "").replace(":", ",").split(",") if name.strip()]

    def proxy_networks(self) -> list[Network]:
        """TORCHTUTOR_TRUSTED_PROXIES as networks (a bare address is a network of one)."""
        return _networks(self.trusted_proxies or "")

    def web_hosts(self) -> list[str]:
        """The Host names the web app answers: TORCHTUTOR_ALLOWED_HOSTS, else localhost names outside production
        (and `testserver`, the name test clients send, in tests)."""
        if self.allowed_hosts:
            return _names(self.allowed_hosts)
        return [*LOCAL_HOST_NAMES, "testserver"] if self.environment == "test" else list(LOCAL_HOST_NAMES)

    def require_web(self) -> None:
        """ConfigError unless the web app may start: production must name its hosts."""
        if self.environment == "production" and not self.allowed_hosts:
            raise ConfigError("TORCHTUTOR_ALLOWED_HOSTS: required in production: the name(s) the web app is "
                              "reached by, comma-separated (e.g. bot.example.com)")

    def journal_settings(self) -> JournalSettings:
        """Pacing and bounds of the buffer of records kept while the database is unavailable."""
        from bot.db.journal import JournalSettings

        return JournalSettings(first_retry_s=self.db_retry_first_s, max_retry_s=self.db_retry_max_s,
                               window_s=self.db_retry_window_s, max_records=self.db_retry_max_records)

    def session_secret(self) -> str:
        """The key that signs dashboard sessions; a per-run random one in development."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _development_secret()

    @property
    def has_discord(self) -> bool:
        return self.discord_token is not None

    @property
    def has_slack_oauth(self) -> bool:
        """Multi-workspace: installs through Slack's OAuth flow, tokens kept in the database."""
        return (self.slack_client_id is not None and self.slack_client_secret is not None
                and self.slack_signing_secret is not None)

    @property
    def has_slack_http(self) -> bool:
        """Slack can reach `POST /slack/events`: a signing secret and a way to get tokens."""
        return self.slack_signing_secret is not None and (self.slack_bot_token is not None or self.has_slack_oauth)

    @property
    def has_slack_socket_mode(self) -> bool:
        """Slack can be reached without a public URL: an app-level token and a bot token (or OAuth installs)."""
        return self.slack_app_token is not None and (self.slack_bot_token is not None or self.has_slack_oauth)

    @property
    def has_slack(self) -> bool:
        return self.has_slack_http or self.has_slack_socket_mode


def _networks(text: str) -> list[Network]:
    networks = []
    for item in _names(text):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return networks


def _names(text: str) -> list[str]:
    return [item.strip().lower() for item in text.split(",") if item.strip()]


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
