"""`torchtutor demo list|run`: the demo catalogue, and one demo run through the configured worker backend."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path
from typing import Any

from bot.cli.output import emit, emit_json
from bot.cli.parser import CommandFailed, UsageError
from bot.config import get_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` command group."""
    parser = commands.add_parser("demo", help="list or run the live PyTorch demos")
    actions = parser.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    lister = actions.add_parser("list", help="the demo catalogue with each demo's parameters")
    lister.add_argument("--json", action="store_true", help="print the catalogue as a JSON array")
    lister.set_defaults(func=list_demos)
    runner = actions.add_parser("run", help="run one demo on a worker and follow its progress")
    runner.add_argument("name", help="the demo's name (see `torchtutor demo list`)")
    runner.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a demo parameter (repeatable), e.g. --param x=1,2,3")
    runner.add_argument("--json", action="store_true", help="JSON lines: progress events, then one result")
    runner.set_defaults(func=run)


def list_demos(args: argparse.Namespace) -> int:
    """Print the catalogue."""
    from workers.demos import list_demos as catalogue
    from workers.demos import load_demo_modules

    load_demo_modules(get_settings().demo_module_names())
    demos = catalogue()
    if args.json:
        emit_json([demo.describe() for demo in demos])
        return 0
    for demo in demos:
        params = ", ".join(f"{name}={_show(spec.get('default'))}" for name, spec in demo.params["properties"].items())
        emit(f"{demo.name}: {demo.title}\n  {demo.summary}\n  parameters: {params or 'none'}")
    return 0


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings as a dict of raw values (the demo's schema converts them)."""
    raw: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param expects KEY=VALUE, got {pair!r}")
        if key.strip() in raw:
            raise UsageError(f"--param {key.strip()} is given twice")
        raw[key.strip()] = value
    return raw


def run(args: argparse.Namespace) -> int:
    """Start the job, follow it to its end, print the result; exit 0 only if it succeeded."""
    from bot.core.conversation import Person, Request
    from bot.core.errors import BadInput, TorchtutorError
    from bot.runtime import build_runtime

    raw = parse_params(args.param)
    settings = get_settings()
    runtime = build_runtime(settings)
    try:
        runtime.require_schema()
        user = _login()
        request = Request(platform="cli", user=Person(platform_id=user, name=user), channel_id="cli",
                          channel_name="terminal", command="demo")
        try:
            started = runtime.demos.start_demo(request, args.name, raw)
        except BadInput as exc:
            raise UsageError(exc.user_message()) from None
        except TorchtutorError as exc:
            raise CommandFailed(exc.user_message()) from None
        runtime.start_workers()
        image_dir = settings.cache_dir.parent / "images"
        try:
            result = asyncio.run(_follow(runtime, started.job_id, as_json=args.json, image_dir=image_dir))
        except KeyboardInterrupt:
            runtime.demos.store.cancel(started.job_id, reason="the command was interrupted")
            raise
        return 0 if result == "succeeded" else 1
    finally:
        runtime.close()


async def _follow(runtime: Any, job_id: str, *, as_json: bool, image_dir: Path) -> str:
    from bot.core.demos.live import in_line, progress_bar, progress_json, result_json

    last, place = -1.0, None
    async for event in runtime.demos.events(job_id):
        if event.result is not None:
            images = _save_images(image_dir, job_id, event.result.images)
            payload = result_json(event.result, images)
            if as_json:
                emit_json(payload)
            else:
                emit(_human_result(payload))
            return str(event.result.status)
        if as_json:
            emit_json(progress_json(event))
        elif event.status == "queued" and event.position is not None:
            if event.position != place:
                emit(f"[{progress_bar(0.0)}] queued: {in_line(event.position)}")
        elif event.progress > last or event.progress == 0.0:
            emit(f"[{progress_bar(event.progress)}] {event.stage or event.status}")
        last, place = event.progress, event.position
    raise CommandFailed(f"lost track of job {job_id}")


def _save_images(folder: Path, job_id: str, images: tuple[bytes, ...]) -> list[str]:
    if not images:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, png in enumerate(images):
        path = folder / f"{job_id}-{n}.png"
        path.write_bytes(png)
        paths.append(str(path.resolve()))
    return paths


def _human_result(payload: dict[str, Any]) -> str:
    if payload["status"] != "succeeded":
        return f"{payload['status']}: {payload['error']}"
    lines = [payload["text"], "", "code that ran:", payload["code"].rstrip(), ""]
    lines += [f"image: {path}" for path in payload["images"]]
    lines.append(f"device: {payload['device']}")
    return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli-user"
