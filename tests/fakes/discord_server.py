"""A loopback Discord (REST API v10 and gateway) that the real discord.py client connects to.

Shapes follow Discord's API docs (tests/data/discord holds documented payloads it is checked against). Where
the docs' examples omit fields that discord.py reads (``version``, ``application_id``, ``attachment_size_limit``
on interactions, ``flags`` on members), the fake sends them, as Discord does.

Its world: one guild with a text channel and a forum channel, the threads started in them (a thread started on a
message shares that message's id), one test user, and that user's DM channel with the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import itertools
import json
import math
import re
import secrets
import socket
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeVar

import discord
import yarl
from aiohttp import BodyPartReader, WSMsgType, hdrs, web
from discord.gateway import DiscordWebSocket
from discord.http import Route

Json = dict[str, Any]
T = TypeVar("T")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
GATEWAY_PATH = "/gateway"
RESUME_GATEWAY_PATH = "/gateway/resume"

# Message flags (https://discord.com/developers/docs/resources/message#message-object-message-flags).
HAS_THREAD = 1 << 5
EPHEMERAL = 1 << 6
LOADING = 1 << 7
_SETTABLE_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12) | (1 << 15)
GUILDS_INTENT = 1 << 0
GUILD_MESSAGES_INTENT = 1 << 9
DIRECT_MESSAGES_INTENT = 1 << 12
MESSAGE_CONTENT_INTENT = 1 << 15
# Channel types (https://discord.com/developers/docs/resources/channel#channel-object-channel-types).
GUILD_TEXT, DM, PUBLIC_THREAD, GUILD_FORUM = 0, 1, 11, 15
THREAD_EXISTS = 160004  # "A thread has already been created for this message"

# Interaction callback types each interaction type accepts (receiving-and-responding.mdx).
_ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    2: frozenset({4, 5, 9}),
    3: frozenset({4, 5, 6, 7, 9}),
    4: frozenset({8}),
    5: frozenset({4, 5, 6, 7}),
}
_ALL_PERMISSIONS = "2251799813685247"
_APP_PERMISSIONS = "442368"
_EVERYONE_PERMISSIONS = "1071698660929"


class DiscordError(Exception):
    """An error answer in Discord's JSON shape: ``{"message": ..., "code": ...}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        """The aiohttp response Discord would send."""
        return _json_response({"message": self.message, "code": self.code}, status=self.status)


def _json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response typed exactly ``application/json``: discord.py reads anything else as text."""
    return web.Response(body=json.dumps(body).encode(), status=status, headers=headers,
                        content_type="application/json")


def _unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def _invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def _unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def _invalid_form(reason: str) -> DiscordError:
    return DiscordError(400, 50035, f"Invalid Form Body: {reason}")


@dataclass(frozen=True)
class RecordedFile:
    """One uploaded file part of a multipart request (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request as the fake received it, and the status it answered."""

    method: str
    path: str
    query: Mapping[str, str]
    json: Any
    files: tuple[RecordedFile, ...]
    headers: Mapping[str, str]
    received_at: float
    status: int


@dataclass(frozen=True)
class GatewayFrame:
    """One gateway payload, decoded; ``direction`` is "in" (from the client) or "out" (to it)."""

    direction: Literal["in", "out"]
    op: int
    t: str | None
    s: int | None
    d: Any
    at: float
    connection: int
    replayed: bool = False


@dataclass(frozen=True)
class GatewayConnection:
    """One websocket the client opened: which URL it used and with which query."""

    number: int
    path: str
    query: Mapping[str, str]


@dataclass(frozen=True)
class SentInteraction:
    """The id and continuation token of a dispatched INTERACTION_CREATE."""

    id: int
    token: str


@dataclass(frozen=True)
class Ack:
    """One interaction callback: its type, body, latency since dispatch, and what the fake answered."""

    interaction_id: int
    callback_type: int | None
    body: Any
    files: tuple[RecordedFile, ...]
    latency: float
    status: int
    message_id: int | None = None


@dataclass(frozen=True)
class _Parsed:
    received_at: float
    body: Any
    files: tuple[RecordedFile, ...]


_PARSED = web.RequestKey("parsed", _Parsed)


class ManualClock:
    """A clock that tests move by hand, for token lifetimes and the 3 s acknowledgement window."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass
class _Fault:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    scope: str
    times: int


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    created_at: float
    source_message_id: int | None
    channel_id: int
    acks: list[Ack] = field(default_factory=list)
    original_id: int | None = None
    loading: bool = False
    expired: bool = False
    message_ids: set[int] = field(default_factory=set)

    @property
    def acknowledged(self) -> bool:
        return any(ack.status < 300 for ack in self.acks)


@dataclass
class _Session:
    id: str
    token: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    sent: list[Json] = field(default_factory=list)
    conn: _Connection | None = None


class _Snowflakes:
    """Time-ordered, unique snowflake ids."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        """A new id, later than every earlier one."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


def _iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """The transport compression the client asked for with ``?compress=``."""
    if kind is None:
        return None
    if kind == "zlib-stream":
        ctx = zlib.compressobj()
        # Z_SYNC_FLUSH ends each message with 00 00 ff ff, which is how clients find message boundaries.
        return lambda data: ctx.compress(data) + ctx.flush(zlib.Z_SYNC_FLUSH)
    if kind == "zstd-stream":
        return _zstd_compressor()
    raise ValueError(f"unsupported compress={kind!r}")


def _zstd_compressor() -> Callable[[bytes], bytes]:
    """One zstd frame per connection, a flushed block per message (what discord.py asks for when it can)."""
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+

        stdlib_ctx = zstd.ZstdCompressor()
        flush_block = zstd.ZstdCompressor.FLUSH_BLOCK
        return lambda data: stdlib_ctx.compress(data, mode=flush_block)  # type: ignore[no-any-return]
    obj = zstandard.ZstdCompressor().compressobj()
    block = zstandard.COMPRESSOBJ_FLUSH_BLOCK
    return lambda data: obj.compress(data) + obj.flush(block)  # type: ignore[no-any-return]


class _Connection:
    """One gateway websocket and its compression context; sends are serialised to keep the stream in order."""

    def __init__(self, number: int, ws: web.WebSocketResponse, request: web.Request,
                 record: Callable[[GatewayFrame], None], clock: Callable[[], float]) -> None:
        self.number, self.ws, self.request = number, ws, request
        self.compress = _compressor(request.query.get("compress"))
        self.session: _Session | None = None
        self.finished = asyncio.Event()
        self._record, self._clock = record, clock
        self._lock = asyncio.Lock()

    async def send(self, payload: Json, *, replayed: bool = False) -> None:
        """Encode, compress and send one payload; a dead socket leaves it for RESUME to replay."""
        data = json.dumps(payload, separators=(",", ":")).encode()
        async with self._lock:
            try:
                if self.compress is None:
                    await self.ws.send_str(data.decode())
                else:
                    await self.ws.send_bytes(self.compress(data))
            except ConnectionError:
                return
        self._record(GatewayFrame("out", payload["op"], payload.get("t"), payload.get("s"), payload.get("d"),
                                  self._clock(), self.number, replayed))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


@dataclass(frozen=True)
class _World:
    """The ids of the fake's application, bot, test guild, its text and forum channels, the invoking user and
    the user's DM channel with the bot, and their payloads."""

    application_id: int
    bot_user_id: int
    user_id: int
    guild_id: int
    channel_id: int
    forum_id: int
    dm_channel_id: int
    joined_at: str

    def bot_user(self) -> Json:
        """The bot's user object (GET /users/@me)."""
        return {"id": str(self.bot_user_id), "username": "torchtutor", "discriminator": "0",
                "global_name": None, "avatar": None, "bot": True, "verified": True, "flags": 0,
                "public_flags": 0, "mfa_enabled": False, "locale": "en-US", "email": None}

    def user(self) -> Json:
        """The invoking user, named after the docs' example interaction."""
        return {"id": str(self.user_id), "username": "mason", "discriminator": "0", "global_name": "Mason",
                "avatar": None, "public_flags": 0}

    def member(self) -> Json:
        """The invoking user as a guild member, with the permissions interactions carry."""
        return {"user": self.user(), "roles": [], "premium_since": None, "permissions": _ALL_PERMISSIONS,
                "pending": False, "is_pending": False, "nick": None, "mute": False, "deaf": False,
                "joined_at": self.joined_at, "flags": 0, "avatar": None, "banner": None,
                "communication_disabled_until": None}

    def bot_member(self) -> Json:
        """The bot as a guild member."""
        return {"user": self.bot_user(), "roles": [], "premium_since": None, "pending": False, "nick": None,
                "mute": False, "deaf": False, "joined_at": self.joined_at, "flags": 0, "avatar": None}

    def channel(self) -> Json:
        """The test guild's text channel."""
        return {"id": str(self.channel_id), "type": 0, "guild_id": str(self.guild_id), "name": "pytorch-help",
                "position": 0, "permission_overwrites": [], "nsfw": False, "topic": None, "parent_id": None,
                "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}

    def forum(self) -> Json:
        """The test guild's forum channel (type 15): its posts are threads, each opened by a starter message."""
        return {"id": str(self.forum_id), "type": GUILD_FORUM, "guild_id": str(self.guild_id),
                "name": "pytorch-forum", "position": 1, "permission_overwrites": [], "nsfw": False, "topic": None,
                "parent_id": None, "last_message_id": None, "rate_limit_per_user": 0, "flags": 0,
                "available_tags": [], "default_reaction_emoji": None, "default_sort_order": None,
                "default_forum_layout": 0, "default_thread_rate_limit_per_user": 0}

    def dm_channel(self) -> Json:
        """The DM channel (type 1) between the bot and the test user, as POST /users/@me/channels returns it."""
        return {"id": str(self.dm_channel_id), "type": DM, "last_message_id": None, "recipients": [self.user()],
                "flags": 0}

    def thread(self, thread_id: int, parent_id: int, owner_id: int, name: str, auto_archive: int) -> Json:
        """A public thread (type 11) in the test guild, as Discord returns it on creation."""
        now = _iso_now()
        return {"id": str(thread_id), "type": PUBLIC_THREAD, "guild_id": str(self.guild_id),
                "parent_id": str(parent_id), "owner_id": str(owner_id), "name": name, "last_message_id": None,
                "message_count": 0, "member_count": 1, "total_message_sent": 0, "rate_limit_per_user": 0,
                "flags": 0, "applied_tags": [],
                "thread_metadata": {"archived": False, "auto_archive_duration": auto_archive,
                                    "archive_timestamp": now, "locked": False, "create_timestamp": now}}

    def guild(self, threads: Sequence[Json] = ()) -> Json:
        """The GUILD_CREATE payload for the test guild, with its active threads."""
        everyone = {"id": str(self.guild_id), "name": "@everyone", "permissions": _EVERYONE_PERMISSIONS,
                    "position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False,
                    "flags": 0}
        return {"id": str(self.guild_id), "name": "TorchTutor Test", "icon": None,
                "owner_id": str(self.user_id), "roles": [everyone], "channels": [self.channel(), self.forum()],
                "members": [self.bot_member()], "member_count": 2, "large": False, "unavailable": False,
                "joined_at": self.joined_at, "features": [], "emojis": [], "stickers": [],
                "threads": [dict(thread) for thread in threads],
                "presences": [], "voice_states": [], "stage_instances": [], "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "preferred_locale": "en-US", "verification_level": 0, "default_message_notifications": 0,
                "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0, "premium_tier": 0,
                "system_channel_id": str(self.channel_id), "afk_timeout": 300, "afk_channel_id": None,
                "description": None, "application_id": None}

    def application(self, verify_key: str) -> Json:
        """GET /oauth2/applications/@me; no interactions endpoint URL, so interactions use the gateway."""
        return {"id": str(self.application_id), "name": "torchtutor", "icon": None, "description": "",
                "summary": "", "type": None, "bot_public": True, "bot_require_code_grant": False,
                "verify_key": verify_key, "flags": 1 << 19, "owner": self.user(), "team": None,
                "bot": self.bot_user(), "interactions_endpoint_url": None, "redirect_uris": [],
                "integration_types_config": {"0": {}}}

    def ready(self, session: _Session, resume_url: str) -> Json:
        """The READY dispatch: guilds start unavailable and arrive by GUILD_CREATE."""
        payload: Json = {"v": 10, "user": self.bot_user(),
                         "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                         "session_id": session.id, "resume_gateway_url": resume_url,
                         "application": {"id": str(self.application_id), "flags": 1 << 19},
                         "private_channels": [], "presences": [], "relationships": [],
                         "session_type": "normal"}
        if session.shard is not None:
            payload["shard"] = session.shard
        return payload

    def interaction(self, interaction_id: int, token: str, kind: int, data: Json,
                    message: Json | None, channel: Json | None = None) -> Json:
        """An INTERACTION_CREATE payload from the test user in the test channel (or in ``channel``, a thread)."""
        where = channel or self.channel()
        payload: Json = {
            "id": str(interaction_id), "application_id": str(self.application_id), "type": kind, "data": data,
            "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
            "guild_id": str(self.guild_id), "channel": {**where, "permissions": _ALL_PERMISSIONS},
            "channel_id": where["id"], "member": self.member(), "token": token, "version": 1,
            "app_permissions": _APP_PERMISSIONS, "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": str(self.guild_id)}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        return payload


def _option_type(value: Any) -> int:
    """Discord's option type for a Python value: STRING 3, INTEGER 4, BOOLEAN 5, NUMBER 10."""
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, str):
        return 3
    raise TypeError(f"pass option {value!r} as a raw option dict")


def _options(values: Mapping[str, Any] | Sequence[Json] | None, focused: str | None = None) -> list[Json]:
    """Option dicts from ``{"name": value}`` (typed from the value), or raw option dicts as given."""
    if values is None:
        return []
    if not isinstance(values, Mapping):
        return [dict(option) for option in values]
    options = [{"type": _option_type(value), "name": name, "value": value} for name, value in values.items()]
    for option in options:
        if option["name"] == focused:
            option["focused"] = True
    return options


def _find_component(components: Sequence[Json], custom_id: str) -> Json | None:
    """The component with this custom_id, searching rows, containers and section accessories."""
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        children = [*component.get("components", []), *filter(None, [component.get("accessory")])]
        found = _find_component(children, custom_id)
        if found is not None:
            return found
    return None


async def _read_body(request: web.Request) -> tuple[Any, tuple[RecordedFile, ...]]:
    """The JSON body, or for multipart the ``payload_json`` part and the ``files[n]`` parts."""
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request)
    raw = await request.read()
    if not raw:
        return None, ()
    try:
        return json.loads(raw), ()
    except ValueError as exc:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc


async def _read_multipart(request: web.Request) -> tuple[Any, tuple[RecordedFile, ...]]:
    """Split a multipart body into its JSON payload and its files."""
    payload: Any = None
    files: list[RecordedFile] = []
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "payload_json":
            payload = json.loads(await part.text())
        else:
            content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
            data = bytes(await part.read())
            files.append(RecordedFile(part.name or "", part.filename or "", content_type, data))
    return payload, tuple(files)


def _ratelimit_headers(bucket: str, *, remaining: int, reset_after: float) -> dict[str, str]:
    """Discord's X-RateLimit-* headers for one bucket."""
    return {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": bucket}


def _flag_query(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in {"1", "true"}


class FakeDiscord:
    """Discord's REST API v10 and gateway on 127.0.0.1, recording every request and frame for tests."""

    def __init__(self, *, heartbeat_interval_ms: int = 45000, token_lifetime: float = 15 * 60,
                 ack_deadline: float = 3.0, bot_token: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.token_lifetime, self.ack_deadline = token_lifetime, ack_deadline
        self.bot_token = bot_token
        self._clock = clock
        self._ids = _Snowflakes()
        self.world = _World(*(self._ids.next() for _ in range(7)), joined_at=_iso_now())
        self.requests: list[RecordedRequest] = []
        self.gateway_frames: list[GatewayFrame] = []
        self.gateway_connections: list[GatewayConnection] = []
        self.messages: dict[int, Json] = {}
        self.threads: dict[int, Json] = {}  # every thread, in the order they were created
        self._dm_open = False
        self.commands: dict[int | None, list[Json]] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._by_token: dict[str, _Interaction] = {}
        self._faults: list[_Fault] = []
        self._files: dict[int, RecordedFile] = {}
        self._session: _Session | None = None
        self._connections: set[_Connection] = set()
        self._numbers = itertools.count(1)
        self._gateway_open = asyncio.Event()
        self._gateway_open.set()
        self._changed = asyncio.Event()
        self._verify_key = secrets.token_hex(32)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- ids and URLs ----------------------------------------------------------------------------------------

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def bot_user_id(self) -> int:
        return self.world.bot_user_id

    @property
    def user_id(self) -> int:
        return self.world.user_id

    @property
    def guild_id(self) -> int:
        return self.world.guild_id

    @property
    def channel_id(self) -> int:
        return self.world.channel_id

    @property
    def forum_id(self) -> int:
        return self.world.forum_id

    @property
    def dm_channel_id(self) -> int:
        return self.world.dm_channel_id

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{RESUME_GATEWAY_PATH}"

    @property
    def session_id(self) -> str | None:
        return None if self._session is None else self._session.id

    @property
    def sequence(self) -> int:
        """The sequence number of the last dispatch (0 before READY)."""
        return 0 if self._session is None else self._session.seq

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self._routes())
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        """Close open gateway sockets (1001 Going Away) and stop serving."""
        for conn in list(self._connections):
            await conn.ws.close(code=1001, message=b"fake discord is shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    # -- waiting, by polling against a deadline ------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, find: Callable[[], T | None], timeout: float, what: Callable[[], str]) -> T:
        """Return ``find()`` once it is not None, re-checking on every change, or raise TimeoutError."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = find()
            if found is not None:
                return found
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{what()} within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_for(self, predicate: Callable[[RecordedRequest], bool],
                       timeout: float = 5.0) -> RecordedRequest:
        """The first recorded REST request matching ``predicate``, waiting for it if needed."""

        def seen() -> str:
            return f"no request matched; saw {[(r.method, r.path, r.status) for r in self.requests[-12:]]}"

        return await self._wait_until(lambda: next(filter(predicate, self.requests), None), timeout, seen)

    async def wait_for_frame(self, predicate: Callable[[GatewayFrame], bool],
                             timeout: float = 5.0) -> GatewayFrame:
        """The first recorded gateway frame matching ``predicate``, waiting for it if needed."""

        def seen() -> str:
            return f"no frame matched; saw {[(f.direction, f.op, f.t) for f in self.gateway_frames[-12:]]}"

        frames = self.gateway_frames
        return await self._wait_until(lambda: next(filter(predicate, frames), None), timeout, seen)

    async def wait_for_ack(self, interaction_id: int, timeout: float = 5.0) -> Ack:
        """The first callback for this interaction (whatever the fake answered), waiting for it if needed."""
        record = self._interactions[interaction_id]
        return await self._wait_until(lambda: record.acks[0] if record.acks else None, timeout,
                                      lambda: f"interaction {interaction_id} was not acknowledged")

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path (after /api/v10) matches the regex."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    # -- fault injection -------------------------------------------------------------------------------------

    def fail_next(self, method: str | None, path_regex: str, *, status: int = 429, retry_after: float = 0.5,
                  times: int = 1, scope: Literal["user", "global", "shared"] = "user") -> None:
        """Answer the next ``times`` matching requests with ``status`` (a 429 in Discord's shape)."""
        fault = _Fault(method and method.upper(), re.compile(path_regex), status, retry_after, scope, times)
        self._faults.append(fault)

    def expire_interaction(self, interaction_id: int) -> None:
        """Make this interaction's token invalid now, as if 15 minutes had passed."""
        self._interactions[interaction_id].expired = True

    @contextlib.asynccontextmanager
    async def gateway_outage(self) -> AsyncIterator[None]:
        """Hold new gateway connections before HELLO until the block exits."""
        self._gateway_open.clear()
        try:
            yield
        finally:
            self._gateway_open.set()

    async def disconnect_gateway(self, code: int | None = 4000) -> None:
        """Close the live gateway socket with ``code``, or drop TCP with none when ``code`` is None."""
        conn = self._live_connection()
        if code is None:
            conn.abort()
        else:
            await conn.ws.close(code=code, message=b"disconnected by the test")
        await asyncio.wait_for(conn.finished.wait(), 10)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, as Discord does before moving a session, and wait for the socket to close."""
        conn = self._live_connection()
        await conn.send({"op": 7, "d": None, "s": None, "t": None})
        await asyncio.wait_for(conn.finished.wait(), 10)

    def _live_connection(self) -> _Connection:
        conn = self._require_session().conn
        if conn is None:
            raise RuntimeError("the gateway session has no live connection")
        return conn

    # -- gateway dispatches and interactions ---------------------------------------------------------------

    def _require_session(self) -> _Session:
        if self._session is None:
            raise RuntimeError("no gateway session: start the client and wait for READY first")
        return self._session

    async def dispatch(self, event: str, data: Json) -> int:
        """Send a dispatch (op 0) with the next sequence number; kept for replay if the client is away."""
        session = self._require_session()
        session.seq += 1
        payload: Json = {"op": 0, "d": data, "s": session.seq, "t": event}
        session.sent.append(payload)
        if session.conn is not None:
            await session.conn.send(payload)
        return session.seq

    async def send_interaction(self, kind: int, data: Json, *, message: Json | None = None,
                               as_user: tuple[int, str] | None = None,
                               channel_id: int | None = None) -> SentInteraction:
        """Dispatch INTERACTION_CREATE of ``kind`` with ``data``; the 3 s and 15 min clocks start now.

        ``as_user`` (id, name): another member of the guild, without special permissions, does it. It happens in
        ``channel_id`` (the test channel or a thread), else where ``message`` is, else in the test channel.
        """
        self._require_session()
        where = channel_id or (int(message["channel_id"]) if message is not None else self.channel_id)
        channel = self._channel(where)
        if channel is None or channel["type"] not in {GUILD_TEXT, PUBLIC_THREAD}:
            raise ValueError(f"the fake sends interactions from the test channel or its threads, not {where}")
        record = _Interaction(self._ids.next(), secrets.token_urlsafe(48), kind, self._clock(),
                              None if message is None else int(message["id"]), where)
        self._interactions[record.id] = record
        self._by_token[record.token] = record
        payload = self.world.interaction(record.id, record.token, kind, data, message, channel)
        if as_user is not None:
            user_id, name = as_user
            user = {**self.world.user(), "id": str(user_id), "username": name.lower(), "global_name": name}
            payload["member"] = {**payload["member"], "user": user, "permissions": _EVERYONE_PERMISSIONS}
        await self.dispatch("INTERACTION_CREATE", payload)
        return SentInteraction(record.id, record.token)

    async def send_slash_command(self, name: str, options: Mapping[str, Any] | Sequence[Json] | None = None,
                                 *, channel_id: int | None = None) -> SentInteraction:
        """A user runs ``/name`` with these options (type 2, CHAT_INPUT), in the test channel or ``channel_id``."""
        return await self.send_interaction(2, self._command_data(name, _options(options)), channel_id=channel_id)

    async def send_message_command(self, name: str, message_id: int) -> SentInteraction:
        """A user picks the message command ``name`` (Apps menu) on a stored message: type 2 with MESSAGE (3)
        command data, the message as ``target_id`` and in ``resolved.messages``."""
        message = self.messages[message_id]
        data = {**self._command_data(name, [], kind=3), "target_id": str(message_id),
                "resolved": {"messages": {str(message_id): dict(message)}}}
        data.pop("options", None)
        return await self.send_interaction(2, data, channel_id=int(message["channel_id"]))

    async def send_modal_submit(self, custom_id: str, values: Mapping[str, str]) -> SentInteraction:
        """A user submits the modal ``custom_id`` with these text input values (type 5, MODAL_SUBMIT): each
        input in an action row, as Discord sends it."""
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
                for key, value in values.items()]
        return await self.send_interaction(5, {"custom_id": custom_id, "components": rows})

    def modals_shown(self) -> list[Json]:
        """The modals the bot answered interactions with (callback type 9), oldest first."""
        return [ack.body["data"] for record in self._interactions.values() for ack in record.acks
                if ack.callback_type == 9 and ack.status < 300]

    async def send_autocomplete(self, name: str, options: Mapping[str, Any], focused: str) -> SentInteraction:
        """A user is typing option ``focused`` of ``/name`` (type 4)."""
        return await self.send_interaction(4, self._command_data(name, _options(options, focused)))

    async def send_button_press(self, message_id: int, custom_id: str, *,
                                as_user: tuple[int, str] | None = None) -> SentInteraction:
        """A user (the test user, or ``as_user``) presses the button ``custom_id`` on a stored message."""
        return await self._send_component(message_id, custom_id, None, as_user)

    async def send_user_message(self, content: str, *, mention_bot: bool = True,
                                channel_id: int | None = None) -> Json:
        """The test user posts ``content`` in the test channel, or in ``channel_id`` (a thread of the guild):
        MESSAGE_CREATE, as Discord sends it to bots.

        Bots without the message-content intent still receive the content of messages that mention them.
        """
        where = channel_id or self.channel_id
        channel = self._channel(where)
        if channel is None or channel["type"] not in {GUILD_TEXT, PUBLIC_THREAD}:
            raise ValueError(f"the test user posts in the test channel or its threads, not in {where}")
        message = self._user_message(self._ids.next(), where, content, mention_bot=mention_bot)
        await self._dispatch_user_message(message, mention_bot=mention_bot)
        return message

    async def send_dm(self, content: str) -> Json:
        """The test user sends the bot a direct message: MESSAGE_CREATE in their DM channel (type 1), without
        ``guild_id`` or ``member``, for a session with the DIRECT_MESSAGES intent. DMs always carry content."""
        self._dm_open = True
        message = self._user_message(self._ids.next(), self.dm_channel_id, content, mention_bot=False)
        if self._wants_message_events(self.dm_channel_id):
            await self.dispatch("MESSAGE_CREATE", dict(message))
        return message

    async def send_forum_post(self, title: str, content: str, *, mention_bot: bool = False) -> Json:
        """The test user opens a post in the forum channel: a thread (THREAD_CREATE), then its starter message
        (MESSAGE_CREATE in the thread, with the thread's id). Returns the starter message."""
        thread = await self._open_thread(self._ids.next(), self.forum_id, self.user_id, title, 4320)
        message = self._user_message(int(thread["id"]), int(thread["id"]), content, mention_bot=mention_bot)
        await self._dispatch_user_message(message, mention_bot=mention_bot)
        return message

    async def start_user_thread(self, message_id: int, name: str) -> Json:
        """The test user starts a thread on a stored message in the test channel, as Start Thread from Message."""
        return await self._start_thread(self.channel_id, message_id, name, self.user_id, 1440)

    def messages_in(self, channel_id: int) -> list[Json]:
        """The stored messages of one channel (a thread, a DM), oldest first."""
        return [m for _, m in sorted(self.messages.items()) if m["channel_id"] == str(channel_id)]

    def bot_messages(self) -> list[Json]:
        """Every stored message the bot posted, oldest first; each says where in its ``channel_id``."""
        return [m for _, m in sorted(self.messages.items()) if m["author"]["id"] == str(self.bot_user_id)]

    def _user_message(self, message_id: int, channel_id: int, content: str, *, mention_bot: bool) -> Json:
        message: Json = {
            "id": str(message_id), "channel_id": str(channel_id), "author": self.world.user(),
            "content": content, "timestamp": _iso_now(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [self.world.bot_user()] if mention_bot else [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": 0,
            "components": [],
        }
        self._store(message)
        return message

    async def _dispatch_user_message(self, message: Json, *, mention_bot: bool) -> None:
        """MESSAGE_CREATE of a guild message by the test user; empty content without the message-content intent."""
        if not self._wants_message_events(int(message["channel_id"])):
            return
        member = {k: v for k, v in self.world.member().items() if k not in {"user", "permissions"}}
        seen = dict(message)
        if not mention_bot and not self._require_session().intents & MESSAGE_CONTENT_INTENT:
            seen["content"] = ""
        await self.dispatch("MESSAGE_CREATE", {**seen, "guild_id": str(self.guild_id), "member": member})

    async def send_select(self, message_id: int, custom_id: str, values: Sequence[str]) -> SentInteraction:
        """A user picks ``values`` in the select menu ``custom_id`` (type 3)."""
        return await self._send_component(message_id, custom_id, list(values))

    async def _send_component(self, message_id: int, custom_id: str, values: list[str] | None,
                              as_user: tuple[int, str] | None = None) -> SentInteraction:
        message = self.messages[message_id]
        component = _find_component(message["components"], custom_id)
        if component is None:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        data: Json = {"custom_id": custom_id, "component_type": component["type"]}
        if "id" in component:
            data["id"] = component["id"]
        if values is not None:
            data["values"] = values
        return await self.send_interaction(3, data, message=dict(message), as_user=as_user)

    def _command_data(self, name: str, options: list[Json], *, kind: int = 1) -> Json:
        """APPLICATION_COMMAND data (``kind``: 1 CHAT_INPUT, 3 MESSAGE), with the id (and guild) the command was
        synced under, if it was."""
        for scope, commands in self.commands.items():
            for command in commands:
                if command["name"] == name and command.get("type", 1) == kind:
                    data: Json = {"id": command["id"], "name": name, "type": kind, "options": options}
                    return data if scope is None else {**data, "guild_id": str(scope)}
        return {"id": str(self._ids.next()), "name": name, "type": kind, "options": options}

    # -- gateway websocket ---------------------------------------------------------------------------------

    def _record_frame(self, frame: GatewayFrame) -> None:
        self.gateway_frames.append(frame)
        self._notify()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """One gateway connection: HELLO, then IDENTIFY or RESUME, heartbeats and dispatches."""
        ws = web.WebSocketResponse(max_msg_size=0, timeout=5.0)
        await ws.prepare(request)
        number = next(self._numbers)
        self.gateway_connections.append(GatewayConnection(number, request.path, dict(request.query)))
        try:
            conn = _Connection(number, ws, request, self._record_frame, self._clock)
        except ValueError as exc:
            await ws.close(code=4000, message=str(exc).encode())
            return ws
        self._connections.add(conn)
        try:
            await self._serve(conn, request)
        finally:
            self._connections.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            conn.finished.set()
            self._notify()
        return ws

    async def _serve(self, conn: _Connection, request: web.Request) -> None:
        """Check the query, say HELLO and handle client payloads until the socket closes."""
        if request.query.get("v") not in {"9", "10"}:
            await conn.ws.close(code=4012, message=b"Invalid API version")
            return
        if request.query.get("encoding", "json") != "json":
            await conn.ws.close(code=4002, message=b"Only encoding=json is faked")
            return
        await self._gateway_open.wait()
        hello = {"heartbeat_interval": self.heartbeat_interval_ms}
        await conn.send({"op": 10, "d": hello, "s": None, "t": None})
        async for msg in conn.ws:
            if msg.type is not WSMsgType.TEXT:
                await conn.ws.close(code=4002, message=b"Error while decoding payload")
                return
            try:
                payload = json.loads(msg.data)
            except ValueError:
                await conn.ws.close(code=4002, message=b"Error while decoding payload")
                return
            await self._on_payload(conn, payload)

    async def _on_payload(self, conn: _Connection, payload: Json) -> None:
        """Route one client payload by opcode, with Discord's close codes for misuse."""
        op, data = payload.get("op"), payload.get("d")
        opcode = op if isinstance(op, int) else -1
        self._record_frame(GatewayFrame("in", opcode, None, None, data, self._clock(), conn.number))
        if op == 1:
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op in {2, 6} and not isinstance(data, dict):
            await conn.ws.close(code=4002, message=b"Error while decoding payload")
        elif op == 2:
            await self._on_identify(conn, data)
        elif op == 6:
            await self._on_resume(conn, data)
        elif op not in {3, 4, 8}:
            await conn.ws.close(code=4001, message=b"Unknown opcode")
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated")

    async def _on_identify(self, conn: _Connection, data: Json) -> None:
        """Start a new session: READY, then GUILD_CREATE for the test guild."""
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated")
            return
        if self.bot_token is not None and data.get("token") != self.bot_token:
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        session = _Session(secrets.token_hex(16), data.get("token", ""), int(data.get("intents", 0)),
                           data.get("shard"))
        self._session = conn.session = session
        session.conn = conn
        await self.dispatch("READY", self.world.ready(session, self.resume_gateway_url))
        await self.dispatch("GUILD_CREATE", self.world.guild(list(self.threads.values())))

    async def _on_resume(self, conn: _Connection, data: Json) -> None:
        """Replay every dispatch after the client's ``seq``, then RESUMED; op 9 if the session is unknown."""
        session = self._session
        if session is None or data.get("session_id") != session.id or data.get("token") != session.token:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        old, session.conn, conn.session = session.conn, None, session
        if old is not None and old is not conn:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere")
        seen = data.get("seq") or 0
        index = next((i for i, p in enumerate(session.sent) if p["s"] > seen), len(session.sent))
        # Dispatches made while replaying queue behind it: the connection goes live only once caught up.
        while index < len(session.sent):
            await conn.send(session.sent[index], replayed=True)
            index += 1
        session.conn = conn
        await self.dispatch("RESUMED", {})

    # -- REST plumbing --------------------------------------------------------------------------------------

    def _routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        app = p + "/applications/{app_id}"
        hook = p + "/webhooks/{app_id}/{token}"
        channel = p + "/channels/{channel_id}/messages"
        return [
            web.get(p + "/gateway", self._get_gateway), web.get(p + "/gateway/bot", self._get_gateway_bot),
            web.get(p + "/users/@me", self._get_me), web.post(p + "/users/@me/channels", self._create_dm),
            web.get(p + "/channels/{channel_id}", self._get_channel),
            web.get(p + "/oauth2/applications/@me", self._get_application),
            web.put(app + "/commands", self._put_commands), web.get(app + "/commands", self._get_commands),
            web.put(app + "/guilds/{guild_id}/commands", self._put_commands),
            web.get(app + "/guilds/{guild_id}/commands", self._get_commands),
            web.post(p + "/interactions/{interaction_id}/{token}/callback", self._interaction_callback),
            web.post(hook, self._execute_webhook),
            web.get(hook + "/messages/{message_id}", self._get_webhook_message),
            web.patch(hook + "/messages/{message_id}", self._edit_webhook_message),
            web.delete(hook + "/messages/{message_id}", self._delete_webhook_message),
            web.post(channel, self._create_channel_message),
            web.get(channel + "/{message_id}", self._get_channel_message),
            web.patch(channel + "/{message_id}", self._edit_channel_message),
            web.delete(channel + "/{message_id}", self._delete_channel_message),
            web.post(channel + "/{message_id}/threads", self._start_thread_from_message),
            web.get("/attachments/{attachment_id}/{filename}", self._get_attachment),
            web.get(GATEWAY_PATH, self._gateway), web.get(RESUME_GATEWAY_PATH, self._gateway),
        ]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Parse, fault-inject, authenticate, answer errors in Discord's shape, record every API request."""
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        received_at, path = self._clock(), request.path[len(API_PREFIX):]
        bucket = hashlib.md5(str(request.match_info.route.resource).encode()).hexdigest()
        body: Any = None
        files: tuple[RecordedFile, ...] = ()
        try:
            body, files = await _read_body(request)
            request[_PARSED] = _Parsed(received_at, body, files)
            fault = self._injected_fault(request.method, path, bucket)
            response = fault or await self._answer(request, handler, path)
        except DiscordError as exc:
            response = exc.response()
        response.headers.setdefault("Via", "1.1 google")
        if "X-RateLimit-Bucket" not in response.headers:
            response.headers.update(_ratelimit_headers(bucket, remaining=4, reset_after=1.0))
        self.requests.append(RecordedRequest(request.method, path, dict(request.query), body, files,
                                             dict(request.headers), received_at, response.status))
        self._notify()
        return response

    async def _answer(self, request: web.Request, handler: _Handler, path: str) -> web.StreamResponse:
        """Run the route's handler, answering unknown routes and bad auth as Discord does."""
        unmatched = request.match_info.http_exception
        if unmatched is not None:
            status = unmatched.status
            raise DiscordError(status, 0, f"{status}: {HTTPStatus(status).phrase}")
        if self._needs_bot_token(path) and not self._authorised(request.headers.get(hdrs.AUTHORIZATION)):
            raise DiscordError(401, 0, "401: Unauthorized")
        return await handler(request)

    @staticmethod
    def _needs_bot_token(path: str) -> bool:
        return not (path == "/gateway" or path.startswith(("/interactions/", "/webhooks/")))

    def _authorised(self, header: str | None) -> bool:
        if header is None or not header.startswith("Bot "):
            return False
        return self.bot_token is None or header == f"Bot {self.bot_token}"

    def _injected_fault(self, method: str, path: str, bucket: str) -> web.Response | None:
        """The response of the first armed fault that matches, if any."""
        fault = next((f for f in self._faults if f.method in {None, method} and f.pattern.search(path)), None)
        if fault is None:
            return None
        fault.times -= 1
        if fault.times <= 0:
            self._faults.remove(fault)
        if fault.status != 429:
            phrase = HTTPStatus(fault.status).phrase
            return _json_response({"message": f"{fault.status}: {phrase}", "code": 0}, status=fault.status)
        return self._rate_limited(fault, bucket)

    @staticmethod
    def _rate_limited(fault: _Fault, bucket: str) -> web.Response:
        """A 429 with Discord's body and headers (Retry-After is whole seconds; the body is precise)."""
        is_global = fault.scope == "global"
        body = {"message": "You are being rate limited.", "retry_after": fault.retry_after,
                "global": is_global}
        headers = _ratelimit_headers(bucket, remaining=0, reset_after=fault.retry_after)
        headers.update({"Retry-After": str(math.ceil(fault.retry_after)), "X-RateLimit-Scope": fault.scope})
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        return _json_response(body, status=429, headers=headers)

    # -- REST: session start ----------------------------------------------------------------------------

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
        return _json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json_response(self.world.bot_user())

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json_response(self.world.application(self._verify_key))

    # -- REST: application commands ------------------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        """None for global commands, else the guild id; 403 Missing Access for anything not ours."""
        guild = request.match_info.get("guild_id")
        ours = request.match_info["app_id"] == str(self.application_id)
        if not ours or guild not in {None, str(self.guild_id)}:
            raise DiscordError(403, 50001, "Missing Access")
        return None if guild is None else int(guild)

    async def _put_commands(self, request: web.Request) -> web.Response:
        """Bulk overwrite: commands keep their id across syncs by (name, type), as on Discord."""
        scope, body = self._command_scope(request), request[_PARSED].body
        if not isinstance(body, list):
            raise _invalid_form("expected an array of commands")
        old = {(c["name"], c.get("type", 1)): c["id"] for c in self.commands.get(scope, [])}
        synced = [self._synced_command(command, old, scope) for command in body]
        self.commands[scope] = synced
        return _json_response(synced)

    def _synced_command(self, command: Json, old: Mapping[tuple[str, int], str], scope: int | None) -> Json:
        if not isinstance(command, dict) or not command.get("name"):
            raise _invalid_form("every command needs a name")
        key = (command["name"], command.get("type", 1))
        synced = {"type": 1, "description": "", "default_member_permissions": None, "nsfw": False, **command,
                  "id": old.get(key) or str(self._ids.next()), "application_id": str(self.application_id),
                  "version": str(self._ids.next())}
        return synced if scope is None else {**synced, "guild_id": str(scope)}

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json_response(self.commands.get(self._command_scope(request), []))

    # -- REST: interaction callback ------------------------------------------------------------------------

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        """Acknowledge an interaction: once, within ``ack_deadline`` s of dispatch, with a valid type."""
        interaction_id = request.match_info["interaction_id"]
        record = self._interactions.get(int(interaction_id)) if interaction_id.isdigit() else None
        if record is None or record.token != request.match_info["token"]:
            raise _unknown_interaction()
        parsed = request[_PARSED]
        body, files, latency = parsed.body or {}, parsed.files, parsed.received_at - record.created_at
        callback_type = body.get("type") if isinstance(body, dict) else None

        def ack(status: int, message_id: int | None = None) -> None:
            record.acks.append(Ack(record.id, callback_type, body, files, latency, status, message_id))
            self._notify()

        if record.acknowledged:
            ack(400)
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if latency > self.ack_deadline:
            ack(404)
            raise _unknown_interaction()
        if callback_type not in _ALLOWED_CALLBACKS.get(record.type, frozenset()):
            ack(400)
            raise _invalid_form(f"callback {callback_type} is not valid for interaction type {record.type}")
        message = await self._apply_callback(record, callback_type, body.get("data") or {}, files)
        status = 200 if _flag_query(request, "with_response") else 204
        ack(status, record.original_id)
        if status == 204:
            return web.Response(status=204)
        return _json_response(self._callback_response(record, callback_type, message))

    async def _apply_callback(self, record: _Interaction, callback_type: int, data: Json,
                              files: tuple[RecordedFile, ...]) -> Json | None:
        """What each callback type does to messages; returns the message it created or updated."""
        if callback_type == 4:
            message = self._new_message(data, files, flags=data.get("flags"), extra=self._reply_extra(record),
                                        channel_id=record.channel_id)
        elif callback_type == 5:
            flags = LOADING | ((data.get("flags") or 0) & EPHEMERAL)
            message = self._new_message({}, (), flags=flags, extra=self._reply_extra(record),
                                        channel_id=record.channel_id)
            record.loading = True
        elif callback_type in {6, 7} and record.source_message_id is not None:
            record.original_id = record.source_message_id
            record.message_ids.add(record.source_message_id)
            if callback_type == 6:
                return None
            message = self._edit_message(self.messages[record.source_message_id], data, files)
            await self._echo("MESSAGE_UPDATE", message)
            return message
        else:
            return None
        record.original_id = int(message["id"])
        record.message_ids.add(record.original_id)
        await self._echo("MESSAGE_CREATE", message)
        return message

    @staticmethod
    def _callback_response(record: _Interaction, callback_type: int, message: Json | None) -> Json:
        """The ``?with_response=true`` body: the interaction callback and the resource it made."""
        interaction: Json = {"id": str(record.id), "type": record.type,
                             "response_message_loading": callback_type == 5,
                             "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL)}
        if record.original_id is not None and callback_type not in {8, 9}:
            interaction["response_message_id"] = str(record.original_id)
        resource: Json = {"type": callback_type}
        if message is not None:
            resource["message"] = message
        return {"interaction": interaction, "resource": resource}

    def _reply_extra(self, record: _Interaction) -> Json:
        """Fields that mark a message as an interaction's reply."""
        metadata: Json = {"id": str(record.id), "type": record.type, "user": self.world.user(),
                          "authorizing_integration_owners": {"0": str(self.guild_id)}}
        if record.original_id is not None:
            metadata["original_response_message_id"] = str(record.original_id)
        if record.source_message_id is not None:
            metadata["interacted_message_id"] = str(record.source_message_id)
        return {"type": 20 if record.type == 2 else 0, "webhook_id": str(self.application_id),
                "application_id": str(self.application_id), "interaction_metadata": metadata}

    # -- REST: interaction webhooks (follow-ups, @original) --------------------------------------------------

    def _webhook_interaction(self, request: web.Request) -> _Interaction:
        """The interaction behind a webhook URL; 401 Invalid Webhook Token once its token has expired."""
        if request.match_info["app_id"] != str(self.application_id):
            raise DiscordError(404, 10015, "Unknown Webhook")
        record = self._by_token.get(request.match_info["token"])
        if record is None or record.expired:
            raise _invalid_webhook_token()
        if request[_PARSED].received_at - record.created_at > self.token_lifetime:
            raise _invalid_webhook_token()
        return record

    def _webhook_message(self, request: web.Request) -> tuple[_Interaction, Json]:
        """The interaction and the message named by ``@original`` or an id among its messages."""
        record = self._webhook_interaction(request)
        name = request.match_info["message_id"]
        message_id = record.original_id if name == "@original" else int(name) if name.isdigit() else None
        if message_id is None or message_id not in record.message_ids or message_id not in self.messages:
            raise _unknown_message()
        return record, self.messages[message_id]

    async def _execute_webhook(self, request: web.Request) -> web.Response:
        """A follow-up; the first after a deferral fills in the "thinking" message instead of adding one."""
        record = self._webhook_interaction(request)
        if not record.acknowledged:
            # The interaction's webhook only exists once the interaction has been acknowledged.
            raise DiscordError(404, 10015, "Unknown Webhook")
        body, files = request[_PARSED].body or {}, request[_PARSED].files
        if record.loading and record.original_id is not None:
            record.loading = False
            message = self._edit_message(self.messages[record.original_id], body, files)
            await self._echo("MESSAGE_UPDATE", message)
        else:
            message = self._new_message(body, files, flags=body.get("flags"), extra=self._reply_extra(record),
                                        channel_id=record.channel_id)
            record.message_ids.add(int(message["id"]))
            await self._echo("MESSAGE_CREATE", message)
        if not _flag_query(request, "wait"):
            return web.Response(status=204)
        return _json_response(message)

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        return _json_response(self._webhook_message(request)[1])

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        record, message = self._webhook_message(request)
        if int(message["id"]) == record.original_id:
            record.loading = False
        message = self._edit_message(message, request[_PARSED].body or {}, request[_PARSED].files)
        await self._echo("MESSAGE_UPDATE", message)
        return _json_response(message)

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        record, message = self._webhook_message(request)
        if int(message["id"]) == record.original_id:
            # Nothing is left to fill in: the next follow-up is a new message.
            record.loading = False
        await self._delete_message(message)
        record.message_ids.discard(int(message["id"]))
        return web.Response(status=204)

    # -- REST: channel messages -----------------------------------------------------------------------------

    def _channel_message(self, request: web.Request) -> Json:
        self._path_channel(request)
        name = request.match_info["message_id"]
        message = self.messages.get(int(name)) if name.isdigit() else None
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            raise _unknown_message()
        return message

    def _channel(self, channel_id: int) -> Json | None:
        """The channel with this id: the test channel, the forum, a thread, or the DM channel once opened."""
        if channel_id == self.channel_id:
            return self.world.channel()
        if channel_id == self.forum_id:
            return self.world.forum()
        if channel_id == self.dm_channel_id:
            return self.world.dm_channel() if self._dm_open else None
        return self.threads.get(channel_id)

    def _path_channel(self, request: web.Request) -> Json:
        """The channel named in the path; 404 Unknown Channel for any other id."""
        name = request.match_info["channel_id"]
        channel = self._channel(int(name)) if name.isdigit() else None
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json_response(self._path_channel(request))

    async def _create_dm(self, request: web.Request) -> web.Response:
        """Create DM: the bot opens (or gets) its DM channel with the test user, the one user it can reach."""
        body = request[_PARSED].body
        if not isinstance(body, dict) or str(body.get("recipient_id")) != str(self.user_id):
            raise DiscordError(400, 50007, "Cannot send messages to this user")
        self._dm_open = True
        return _json_response(self.world.dm_channel())

    async def _start_thread_from_message(self, request: web.Request) -> web.Response:
        """Start Thread from Message: a public thread whose id is the message's; one per message."""
        body = request[_PARSED].body
        if not isinstance(body, dict):
            raise _invalid_form("expected an object")
        channel = self._path_channel(request)
        name = request.match_info["message_id"]
        if not name.isdigit():
            raise _unknown_message()
        auto_archive = body.get("auto_archive_duration") or 1440
        thread = await self._start_thread(int(channel["id"]), int(name), body.get("name"), self.bot_user_id,
                                          auto_archive)
        return _json_response(thread)

    async def _start_thread(self, channel_id: int, message_id: int, name: Any, owner_id: int,
                            auto_archive: Any) -> Json:
        """Open a thread on a message of a text channel: the message gets ``thread`` and the HAS_THREAD flag."""
        channel = self._channel(channel_id)
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        if channel["type"] != GUILD_TEXT:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != str(channel_id) or message["flags"] & EPHEMERAL:
            raise _unknown_message()
        if message_id in self.threads:
            raise DiscordError(400, THREAD_EXISTS, "A thread has already been created for this message")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            raise _invalid_form("name must be between 1 and 100 characters")
        if auto_archive not in {60, 1440, 4320, 10080}:
            raise _invalid_form("auto_archive_duration must be 60, 1440, 4320 or 10080")
        thread = await self._open_thread(message_id, channel_id, owner_id, name.strip(), auto_archive)
        message["thread"] = thread
        message["flags"] |= HAS_THREAD
        return thread

    async def _open_thread(self, thread_id: int, parent_id: int, owner_id: int, name: str,
                           auto_archive: int) -> Json:
        """Store a new public thread and tell a session with the GUILDS intent (THREAD_CREATE, newly created)."""
        thread = self.world.thread(thread_id, parent_id, owner_id, name, auto_archive)
        self.threads[thread_id] = thread
        if self._session is not None and self._session.intents & GUILDS_INTENT:
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        self._notify()
        return thread

    async def _create_channel_message(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        if channel["type"] == GUILD_FORUM:
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        body, files = request[_PARSED].body or {}, request[_PARSED].files
        if not files and not any(body.get(key) for key in ("content", "embeds", "components", "sticker_ids")):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        reference = body.get("message_reference")
        extra = {"type": 19, "message_reference": self._reference(reference, channel)} if reference else {}
        flags = (body.get("flags") or 0) & ~EPHEMERAL
        message = self._new_message(body, files, flags=flags, extra=extra, channel_id=int(channel["id"]))
        await self._echo("MESSAGE_CREATE", message)
        return _json_response(message)

    def _reference(self, reference: Json, channel: Json) -> Json:
        """A reply's message_reference as Discord stores it: snowflakes as strings, its channel and guild filled in."""
        stored = {**reference, "channel_id": reference.get("channel_id") or channel["id"]}
        if "guild_id" in channel:
            stored.setdefault("guild_id", channel["guild_id"])
        return {k: str(v) if k.endswith("_id") and v is not None else v for k, v in stored.items()}

    async def _get_channel_message(self, request: web.Request) -> web.Response:
        return _json_response(self._channel_message(request))

    async def _edit_channel_message(self, request: web.Request) -> web.Response:
        parsed = request[_PARSED]
        message = self._edit_message(self._channel_message(request), parsed.body or {}, parsed.files)
        await self._echo("MESSAGE_UPDATE", message)
        return _json_response(message)

    async def _delete_channel_message(self, request: web.Request) -> web.Response:
        await self._delete_message(self._channel_message(request))
        return web.Response(status=204)

    async def _get_attachment(self, request: web.Request) -> web.Response:
        name = request.match_info["attachment_id"]
        upload = self._files.get(int(name)) if name.isdigit() else None
        if upload is None:
            raise web.HTTPNotFound()
        return web.Response(body=upload.data, content_type=upload.content_type)

    # -- messages -------------------------------------------------------------------------------------------

    def _new_message(self, body: Json, files: tuple[RecordedFile, ...], *, flags: int | None,
                     extra: Json, channel_id: int) -> Json:
        """Store and return a bot message in this channel, in Discord's message shape."""
        message: Json = {
            "id": str(self._ids.next()), "channel_id": str(channel_id), "author": self.world.bot_user(),
            "content": body.get("content") or "", "timestamp": _iso_now(), "edited_timestamp": None,
            "tts": bool(body.get("tts")), "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": self._attachments(body, files), "embeds": body.get("embeds") or [],
            "pinned": False, "type": 0, "flags": (flags or 0) & (_SETTABLE_FLAGS | LOADING),
            "components": body.get("components") or [], **extra,
        }
        self._store(message)
        return message

    def _store(self, message: Json) -> None:
        """Keep a new message; a thread counts the messages after its start, as Discord's message_count does."""
        message_id, channel_id = int(message["id"]), int(message["channel_id"])
        self.messages[message_id] = message
        thread = self.threads.get(channel_id)
        if thread is not None and message_id != channel_id and not message["flags"] & EPHEMERAL:
            thread["last_message_id"] = message["id"]
            thread["message_count"] += 1
            thread["total_message_sent"] += 1

    def _edit_message(self, message: Json, body: Json, files: tuple[RecordedFile, ...]) -> Json:
        """Apply an edit in place; editing a "thinking" message completes it rather than marking it edited."""
        for key, empty in (("content", ""), ("embeds", []), ("components", [])):
            if key in body:
                message[key] = body[key] if body[key] is not None else empty
        if "attachments" in body or files:
            kept = {str(a.get("id")) for a in body.get("attachments") or []}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in kept]
            message["attachments"] += self._attachments(body, files)
        if message["flags"] & LOADING:
            message["flags"] &= ~LOADING
        else:
            message["edited_timestamp"] = _iso_now()
        return message

    def _attachments(self, body: Json, files: tuple[RecordedFile, ...]) -> list[Json]:
        """Attachment objects for uploaded ``files[n]``, named as ``attachments[].id == n`` declares."""
        declared = {str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)}
        attachments = []
        for upload in files:
            meta = declared.get(upload.field.removeprefix("files[").removesuffix("]"), {})
            attachment_id, filename = self._ids.next(), meta.get("filename") or upload.filename
            self._files[attachment_id] = upload
            url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{filename}"
            attachment = {"id": str(attachment_id), "filename": filename, "size": len(upload.data),
                          "url": url, "proxy_url": url, "content_type": upload.content_type}
            if "description" in meta:
                attachment["description"] = meta["description"]
            attachments.append(attachment)
        return attachments

    async def _delete_message(self, message: Json) -> None:
        del self.messages[int(message["id"])]
        channel_id = int(message["channel_id"])
        if self._wants_message_events(channel_id):
            data = {"id": message["id"], "channel_id": message["channel_id"]}
            if channel_id != self.dm_channel_id:
                data["guild_id"] = str(self.guild_id)
            await self.dispatch("MESSAGE_DELETE", data)

    def _wants_message_events(self, channel_id: int) -> bool:
        """Whether the session gets message events of this channel: GUILD_MESSAGES, or DIRECT_MESSAGES for the DM."""
        intent = DIRECT_MESSAGES_INTENT if channel_id == self.dm_channel_id else GUILD_MESSAGES_INTENT
        return self._session is not None and bool(self._session.intents & intent)

    async def _echo(self, event: str, message: Json) -> None:
        """Tell the gateway about a visible message change, as Discord does for GUILD_MESSAGES (with the guild and
        the author's member) and DIRECT_MESSAGES (without either)."""
        channel_id = int(message["channel_id"])
        if not self._wants_message_events(channel_id) or message["flags"] & EPHEMERAL:
            return
        if channel_id == self.dm_channel_id:
            await self.dispatch(event, dict(message))
            return
        member = {k: v for k, v in self.world.bot_member().items() if k != "user"}
        await self.dispatch(event, {**message, "guild_id": str(self.guild_id), "member": member})


@contextlib.asynccontextmanager
async def start_fake_discord(**options: Any) -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord (keyword options as for the class), closed on exit."""
    fake = FakeDiscord(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@contextlib.contextmanager
def point_discord_py_at(api_url: str, gateway_url: str | None = None) -> Iterator[None]:
    """Send discord.py's REST calls to ``api_url`` (and its gateway to ``gateway_url``), then restore.

    discord.py 2.x never asks /gateway/bot for a plain ``Client``: it connects to ``DEFAULT_GATEWAY``.
    Pass ``gateway_url`` here, or call :func:`use_bot_gateway` from ``setup_hook``.
    """
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = api_url.rstrip("/")
    if gateway_url is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


async def use_bot_gateway(client: discord.Client) -> str:
    """Point discord.py's gateway at the URL from GET /gateway/bot (call from ``setup_hook``, after login)."""
    _shards, url, _limits = await client.http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    return str(url)
