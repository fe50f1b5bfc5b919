"""compose.yaml and the Dockerfile, checked without Docker: commands, settings, dependencies, GPUs, health, stages."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.main import build_parser
from bot.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
SERVICES = {"postgres", "redis", "migrate", "bot", "web", "worker-cpu", "worker-gpu", "flower"}
TORCHTUTOR_SERVICES = {"migrate", "bot", "web", "worker-cpu", "worker-gpu"}
LONG_RUNNING = SERVICES - {"migrate"}
REQUIRED_SECRETS = {"POSTGRES_PASSWORD", "TORCHTUTOR_SECRET_KEY"}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SETTINGS_NAMES = {f"TORCHTUTOR_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def check_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> argparse.Namespace:
    """`argv` is a torchtutor command line the CLI accepts."""
    assert argv and argv[0] == "torchtutor", f"not a torchtutor command: {argv}"
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"torchtutor refuses {shlex.join(argv)}: {capsys.readouterr().err.strip()}")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def resolve(value: str) -> str:
    """Interpolate as compose would with the operator's required values filled in."""

    def one(match: re.Match[str]) -> str:
        name, operator, default = match.groups()
        if operator and operator.endswith("?"):
            return "a-real-secret-value-of-forty-characters!" if name != "POSTGRES_PASSWORD" else "pw"
        return default or ""

    return INTERPOLATION.sub(one, value)


def test_the_services_are_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


@pytest.mark.parametrize("name", sorted(TORCHTUTOR_SERVICES))
def test_every_command_is_one_torchtutor_accepts(compose: dict[str, Any], name: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    service = compose["services"][name]
    health = service.get("healthcheck", {}).get("test", [])
    if health[1:2] == ["torchtutor"]:
        check_command(health[1:], capsys)
    check_command(service["command"], capsys)


def test_the_services_run_what_the_issue_names(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["torchtutor", "migrate"]
    assert services["bot"]["command"] == ["torchtutor", "run"]
    assert services["web"]["command"][:4] == ["torchtutor", "serve", "--host", "0.0.0.0"]
    for name, queue in (("worker-cpu", "cpu"), ("worker-gpu", "gpu")):
        command = services[name]["command"]
        assert command[:4] == ["torchtutor", "worker", "--backend", "celery"]
        assert command[command.index("--queues") + 1] == queue
    assert services["worker-gpu"]["command"][-2:] == ["--concurrency", "1"]  # one process per GPU
    for name in ("bot", "web", "worker-cpu", "worker-gpu"):
        assert environment(services[name])["TORCHTUTOR_WORKER_BACKEND"] == "celery"


@pytest.mark.parametrize("name", sorted(TORCHTUTOR_SERVICES))
def test_environment_names_are_settings_and_the_values_validate(compose: dict[str, Any], name: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(compose["services"][name])
    unknown = sorted(set(env) - SETTINGS_NAMES)
    assert not unknown, f"{name}: not fields of bot.config.Settings: {unknown}"
    for key, value in env.items():
        monkeypatch.setenv(key, resolve(value))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "production" and settings.log_format == "json"
    assert settings.database_url.startswith("postgresql+psycopg://") and "@postgres:5432/" in settings.database_url
    assert settings.queue_url.startswith("redis://redis:")


def test_interpolated_torchtutor_names_are_settings_and_documented() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    names = {match.group(1) for match in INTERPOLATION.finditer(text)}
    unknown = sorted(n for n in names if n.startswith("TORCHTUTOR_") and n not in SETTINGS_NAMES)
    assert not unknown, f"compose.yaml reads TORCHTUTOR_ names Settings does not have: {unknown}"
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert names <= documented, f".env.example lacks {sorted(names - documented)}"
    assert not sorted(n for n in documented if n.startswith("TORCHTUTOR_") and n not in SETTINGS_NAMES)


def test_secrets_come_from_the_operator_never_from_the_file(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = {m.group(1) for m in INTERPOLATION.finditer(text) if (m.group(2) or "").endswith("?")}
    assert REQUIRED_SECRETS <= required
    secret_fields = {f"TORCHTUTOR_{name.upper()}" for name, info in Settings.model_fields.items()
                     if "SecretStr" in str(info.annotation)}
    for name in TORCHTUTOR_SERVICES:
        for key, value in environment(compose["services"][name]).items():
            if key in secret_fields and value != "":  # "" blanks a secret .env holds, for the workers
                assert INTERPOLATION.fullmatch(value), f"{name}: {key} must come from the environment"
            if key == "TORCHTUTOR_DATABASE_URL":
                assert "${POSTGRES_PASSWORD:?" in value


def test_flower_is_optional_behind_basic_auth_on_loopback_and_watches_the_broker(compose: dict[str, Any]) -> None:
    flower = compose["services"]["flower"]
    assert flower["profiles"] == ["flower"]  # `docker compose up` alone does not start it
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "${FLOWER_BASIC_AUTH:-}"
    script = flower["command"][-1]
    assert flower["command"][:2] == ["sh", "-c"]
    assert script.startswith('test -n "$$FLOWER_BASIC_AUTH" || {') and "exit 1" in script  # no auth, no start
    broker = environment(compose["services"]["worker-cpu"])["TORCHTUTOR_QUEUE_URL"]
    assert f"celery --broker={broker} flower" in script
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])
    assert flower["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_dependencies_exist_and_wait_for_health_and_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert set(depends) <= set(services), f"{name} depends on unknown services"
        assert name not in depends
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in TORCHTUTOR_SERVICES - {"migrate"}:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_the_gpu_worker_reserves_an_nvidia_gpu(compose: dict[str, Any]) -> None:
    devices = compose["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    assert compose["services"]["worker-gpu"]["build"]["target"] == "gpu"
    assert "deploy" not in compose["services"]["worker-cpu"]


def test_long_running_services_have_health_checks_and_drain_time(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = compose["services"][name].get("healthcheck") or {}
        assert not check.get("disable") and check.get("test"), f"{name} has no health check"
    for name in ("bot", "web"):
        check = compose["services"][name]["healthcheck"]["test"]
        assert check == ["CMD", "torchtutor", "healthcheck"]
        grace = compose["services"][name]["stop_grace_period"]
        assert int(grace.rstrip("s")) > Settings.model_fields["shutdown_timeout"].default
    assert compose["services"]["migrate"]["restart"] == "no"


def test_named_volumes_are_declared_and_hold_the_data(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                used.add(source)
    assert used <= declared, f"undeclared volumes: {used - declared}"
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert any(v.endswith(":/data") for v in compose["services"]["redis"]["volumes"])


# ---- Dockerfile ----


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def dockerfile() -> tuple[dict[str, Stage], dict[str, str]]:
    """Stages by name (unnamed ones by index) and the global ARG defaults."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: dict[str, Stage] = {}
    args: dict[str, str] = {}
    current: Stage | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            current = stages[name] = Stage(name, base)
        elif current is None:
            if keyword == "ARG" and "=" in rest:
                key, value = rest.split("=", 1)
                args[key.strip()] = value.strip()
        else:
            current.instructions.append((keyword, rest.strip()))
    return stages, args


def chain(stages: dict[str, Stage], target: str) -> list[tuple[str, str]]:
    """Every instruction that built `target`, in order: its base stages', and those it copies from."""
    stage = stages[target]
    steps = chain(stages, stage.base) if stage.base in stages else []
    for keyword, rest in stage.instructions:
        source = re.match(r"--from=(\S+)", rest) if keyword == "COPY" else None
        if source and source.group(1) in stages:
            steps += chain(stages, source.group(1))
        steps.append((keyword, rest))
    return steps


def _is_source_copy(keyword: str, rest: str) -> bool:
    if keyword not in ("COPY", "ADD") or "--from=" in rest:
        return False
    sources = [part for part in rest.split() if not part.startswith("--")][:-1]
    return any(s.rstrip("/") in (".", "bot", "knowledge", "workers") for s in sources)


def test_compose_build_targets_are_dockerfile_stages(compose: dict[str, Any]) -> None:
    stages, _ = dockerfile()
    assert {"base", "deps", "app", "gpu"} <= set(stages)
    for name, service in compose["services"].items():
        target = (service.get("build") or {}).get("target")
        if target:
            assert target in stages, f"{name} builds unknown stage {target}"


@pytest.mark.parametrize("target", ["app", "gpu"])
def test_targets_run_as_a_non_root_user(target: str) -> None:
    stages, _ = dockerfile()
    users = [rest for keyword, rest in chain(stages, target) if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


@pytest.mark.parametrize("target", ["app", "gpu"])
def test_torch_and_the_dependencies_are_layered_before_the_source(target: str) -> None:
    steps = chain(dockerfile()[0], target)
    torch = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and re.search(r"pip install .*torch==", rest))
    requirements = next(i for i, (k, rest) in enumerate(steps)
                        if k == "RUN" and "--require-hashes -r /tmp/requirements.lock" in rest)
    source = next(i for i, step in enumerate(steps) if _is_source_copy(*step))
    assert torch < requirements < source


def test_the_app_image_is_slim_cpu_and_the_gpu_image_is_cuda() -> None:
    stages, _ = dockerfile()
    assert stages["base"].base.startswith("python:") and "slim" in stages["base"].base
    assert stages["app"].base == "base"
    assert "download.pytorch.org/whl/cpu" in " ".join(rest for _, rest in chain(stages, "app"))
    assert stages["gpu"].base.startswith("nvidia/cuda:") and "runtime" in stages["gpu"].base
    assert "download.pytorch.org/whl/${TORCH_CUDA}" in " ".join(rest for _, rest in chain(stages, "gpu"))


@pytest.mark.parametrize("target", ["app", "gpu"])
def test_images_check_their_health_and_run_torchtutor(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    steps = chain(dockerfile()[0], target)
    health = [rest for keyword, rest in steps if keyword == "HEALTHCHECK"][-1]
    check_command(json.loads(health[health.index("CMD") + 3:].strip()), capsys)
    command = [rest for keyword, rest in steps if keyword == "CMD"][-1]
    check_command(json.loads(command), capsys)


def test_secrets_and_local_state_stay_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".env", ".git", ".venv", "var"} <= ignored
