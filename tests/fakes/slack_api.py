"""A loopback Slack: the Web API methods torchtutor calls, a response_url receiver, file uploads, Socket Mode.

It runs an aiohttp server in a thread of its own, so both a served `torchtutor` subprocess and in-process
apps can talk to it. Every call is recorded (method, arguments, token, time, status). Faults can be injected:
`ratelimited` (429 with Retry-After) or any Slack error for the next N calls of a method. Messages are checked
against Block Kit's limits and refused with `invalid_blocks` as Slack does. Socket Mode: `apps.connections.open`
hands out this server's websocket URL; `send_envelope` pushes an envelope and the client's acks are recorded.

People talk too: `user_posts` records a person's message (top level or in a thread) and returns the Events API
deliveries Slack makes of it (`message.channels` / `message.groups`, and `app_mention` when it mentions the bot;
nothing from a channel the bot is not a member of, `outside`); `message_shortcut` builds the `message_action`
payload of a message shortcut used on a recorded message. The bot may delete only its own messages, and posts
nothing where it is not a member (`not_in_channel`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

Json = dict[str, Any]


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: `v0=HMAC-SHA256(secret, "v0:{ts}:{body}")`."""
    raw = body.encode() if isinstance(body, str) else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def form_body(fields: Mapping[str, Any]) -> str:
    """An application/x-www-form-urlencoded body."""
    return urlencode({k: v for k, v in fields.items() if v is not None})


@dataclass(frozen=True)
class Call:
    """One Web API call as the fake received it."""

    method: str
    args: Json
    token: str | None
    at: float
    status: int
    error: str | None


@dataclass(frozen=True)
class Hook:
    """One POST to a response_url."""

    key: str
    body: Json
    at: float
    status: int = 200


@dataclass
class Team:
    """A workspace the fake knows, and its bot."""

    id: str
    name: str
    bot_token: str
    bot_user_id: str
    bot_id: str


@dataclass
class _Fault:
    method: str
    remaining: int
    error: str
    status: int
    retry_after: int | None


@dataclass
class FakeSlack:
    """The loopback Slack. Use as a context manager; `api_url` is what TORCHTUTOR_SLACK_API_URL takes."""

    teams: list[Team] = field(default_factory=lambda: [Team("T0001", "Example", "xoxb-test-token", "UBOT", "BBOT")])
    app_token: str = "xapp-1-test"
    client_id: str = "1111.2222"
    client_secret: str = "client-secret"
    users: dict[str, Json] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    messages: dict[tuple[str, str], Json] = field(default_factory=dict)
    socket_frames: list[Json] = field(default_factory=list)
    oauth_codes: dict[str, Team] = field(default_factory=dict)
    views: list[Json] = field(default_factory=list)  # modals opened with views.open, as Slack answered them
    outside: set[str] = field(default_factory=set)  # channels the bot is not a member of

    def __post_init__(self) -> None:
        self._faults: list[_Fault] = []
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-slack", daemon=True)
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self.port = 0

    # ----- lifecycle

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{key}", self._hook)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, key: str | None = None) -> str:
        """A response_url that lands in `hooks` under this key."""
        return f"{self.url}/hooks/{key or uuid.uuid4().hex[:8]}"

    # ----- inspection and fault injection

    def calls_to(self, method: str, ok: bool | None = True) -> list[Call]:
        """Calls of one method: the successful ones (default), the refused ones (`ok=False`), or all (None)."""
        with self._lock:
            calls = [c for c in self.calls if c.method == method]
        return calls if ok is None else [c for c in calls if (c.status == 200 and c.error is None) == ok]

    def message_ts(self, channel: str) -> list[str]:
        """The ts of every message posted in a channel, oldest first."""
        with self._lock:
            return [ts for (posted_in, ts) in self.messages if posted_in == channel]

    def hooks_to(self, key: str, ok: bool | None = True) -> list[Hook]:
        """POSTs to one response_url: the accepted ones (default), the refused ones (`ok=False`), or all."""
        with self._lock:
            hooks = [h for h in self.hooks if h.key == key]
        return hooks if ok is None else [h for h in hooks if (h.status == 200) == ok]

    def fail(self, method: str, error: str = "ratelimited", *, times: int = 1, status: int | None = None,
             retry_after: int | None = None) -> None:
        """Answer the next `times` calls of `method` with an error (`ratelimited`: 429 with Retry-After)."""
        if error == "ratelimited":
            status, retry_after = status or 429, 1 if retry_after is None else retry_after
        with self._lock:
            self._faults.append(_Fault(method, times, error, status or 200, retry_after))

    def add_user(self, user_id: str, name: str, *, admin: bool = False, team_id: str = "T0001") -> None:
        self.users[user_id] = {"id": user_id, "team_id": team_id, "name": name.lower(), "is_admin": admin,
                               "is_owner": False, "profile": {"display_name": name, "real_name": name}}

    def add_oauth_code(self, code: str, team: Team) -> None:
        self.oauth_codes[code] = team

    def user_posts(self, channel: str, user: str, text: str, *, thread_ts: str | None = None,
                   channel_type: str = "channel", team_id: str = "T0001") -> tuple[str, list[Json]]:
        """A person posts in a channel (in the thread on `thread_ts`, if given): the message's ts, and the
        `event_callback` bodies Slack delivers for it, in the documented shapes of message.channels (or
        message.groups) and app_mention. None come from a channel the bot is not a member of."""
        team = next(t for t in self.teams if t.id == team_id)
        ts = self._next_ts()
        message: Json = {"type": "message", "user": user, "text": text, "ts": ts}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._lock:
            self.messages[(channel, ts)] = message
        if channel in self.outside:
            return ts, []
        deliveries = [self._event_callback(team, {**message, "channel": channel, "event_ts": ts,
                                                  "channel_type": channel_type})]
        if f"<@{team.bot_user_id}>" in text:
            deliveries.append(self._event_callback(team, {**message, "type": "app_mention", "channel": channel,
                                                          "event_ts": ts}))
        return ts, deliveries

    def _event_callback(self, team: Team, event: Json) -> Json:
        """The Events API envelope (https://docs.slack.dev/apis/events-api/) of one event for the bot."""
        return {"token": "one-long-verification-token", "team_id": team.id, "api_app_id": "A0001", "event": event,
                "type": "event_callback", "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
                "event_time": int(time.time()),
                "authorizations": [{"enterprise_id": None, "team_id": team.id, "user_id": team.bot_user_id,
                                    "is_bot": True, "is_enterprise_install": False}],
                "is_ext_shared_channel": False}

    def message_shortcut(self, callback_id: str, channel: str, ts: str, *, user: str, response_url: str,
                         team_id: str = "T0001") -> Json:
        """The `message_action` payload of a message shortcut used on a recorded message, as documented
        (https://docs.slack.dev/reference/interaction-payloads/shortcuts-interaction-payload)."""
        with self._lock:
            message = dict(self.messages[(channel, ts)])
        name = str((self.users.get(user) or {}).get("name") or user.lower())
        shown = {k: message[k] for k in ("type", "user", "ts", "text", "thread_ts") if message.get(k)}
        return {"token": "Nj2rfC2hU8mAfgaJLemZgO7H", "callback_id": callback_id, "type": "message_action",
                "trigger_id": f"{uuid.uuid4().int % 10**11}.{uuid.uuid4().hex[:24]}", "response_url": response_url,
                "team": {"id": team_id, "domain": "example"}, "channel": {"id": channel, "name": "general"},
                "user": {"id": user, "name": name}, "message": shown}

    # ----- Web API

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await _arguments(request)
        token = _bearer(request) or args.get("token")
        fault = self._take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return self._answer(method, args, token, {"ok": False, "error": fault.error}, fault.status, headers)
        handler: Callable[[Json, str | None], Json] | None = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._answer(method, args, token, {"ok": False, "error": "unknown_method"}, 404)
        if method not in ("oauth.v2.access", "apps.connections.open") and self._team(token) is None:
            return self._answer(method, args, token, {"ok": False, "error": "invalid_auth"}, 200)
        return self._answer(method, args, token, handler(args, token), 200)

    def _answer(self, method: str, args: Json, token: str | None, body: Json, status: int,
                headers: Mapping[str, str] | None = None) -> web.Response:
        with self._lock:
            self.calls.append(Call(method, args, token, time.monotonic(), status,
                                   None if body.get("ok") else str(body.get("error"))))
        return web.json_response(body, status=status, headers=headers)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def _team(self, token: str | None) -> Team | None:
        return next((t for t in self.teams if t.bot_token == token), None)

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _m_auth_test(self, args: Json, token: str | None) -> Json:
        team = self._team(token)
        assert team is not None
        return {"ok": True, "url": f"https://{team.name.lower()}.slack.com/", "team": team.name, "user": "torchtutor",
                "team_id": team.id, "user_id": team.bot_user_id, "bot_id": team.bot_id, "is_enterprise_install": False}

    def _m_chat_postMessage(self, args: Json, token: str | None) -> Json:
        problems = check_message(args)
        if problems:
            return {"ok": False, "error": "invalid_blocks", "errors": problems}
        channel = str(args.get("channel"))
        if channel in self.outside:
            return {"ok": False, "error": "not_in_channel"}
        ts = self._next_ts()
        team = self._team(token)
        assert team is not None
        message = {"type": "message", "ts": ts, "text": args.get("text"), "blocks": _blocks(args),
                   "thread_ts": args.get("thread_ts"), "user": team.bot_user_id, "bot_id": team.bot_id}
        with self._lock:
            self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_delete(self, args: Json, token: str | None) -> Json:
        """https://docs.slack.dev/reference/methods/chat.delete: with a bot token, only that bot's messages."""
        key = (str(args.get("channel")), str(args.get("ts")))
        team = self._team(token)
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            if team is None or message.get("bot_id") != team.bot_id:
                return {"ok": False, "error": "cant_delete_message"}
            del self.messages[key]
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _m_chat_update(self, args: Json, token: str | None) -> Json:
        key = (str(args.get("channel")), str(args.get("ts")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        problems = check_message(args)
        if problems:
            return {"ok": False, "error": "invalid_blocks", "errors": problems}
        self.messages[key].update(text=args.get("text"), blocks=_blocks(args))
        return {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text")}

    def _m_chat_postEphemeral(self, args: Json, token: str | None) -> Json:
        problems = check_message(args)
        if problems:
            return {"ok": False, "error": "invalid_blocks", "errors": problems}
        if str(args.get("channel")) in self.outside:
            return {"ok": False, "error": "not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_users_info(self, args: Json, token: str | None) -> Json:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_views_publish(self, args: Json, token: str | None) -> Json:
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        problems = check_blocks((view or {}).get("blocks") or [], limit=100)
        if problems:
            return {"ok": False, "error": "invalid_blocks", "errors": problems}
        return {"ok": True, "view": {"id": "V" + uuid.uuid4().hex[:8].upper(), **(view or {})}}

    def _m_views_open(self, args: Json, token: str | None) -> Json:
        """https://docs.slack.dev/reference/methods/views.open: a modal for a trigger_id (valid 3 seconds, once)."""
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        trigger = str(args.get("trigger_id") or "")
        if not trigger or any(v["trigger_id"] == trigger for v in self.views):
            return {"ok": False, "error": "invalid_trigger_id" if not trigger else "expired_trigger_id"}
        problems = check_modal(view)
        if problems:
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": problems}}
        team = self._team(token)
        opened = {"id": "V" + uuid.uuid4().hex[:10].upper(), "team_id": team.id if team else "", "type": "modal",
                  "private_metadata": "", "callback_id": "", "state": {"values": {}}, "hash": uuid.uuid4().hex[:16],
                  "clear_on_close": False, "notify_on_close": False, "root_view_id": None, **view,
                  "trigger_id": trigger}
        opened["root_view_id"] = opened["id"]
        with self._lock:
            self.views.append(opened)
        return {"ok": True, "view": {k: v for k, v in opened.items() if k != "trigger_id"}}

    def _m_files_getUploadURLExternal(self, args: Json, token: str | None) -> Json:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: Json, token: str | None) -> Json:
        files = json.loads(args.get("files") or "[]")
        missing = [f["id"] for f in files if f.get("id") not in self.uploads]
        if not files or missing:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title"), "name": f.get("title")}
                                      for f in files]}

    def _m_apps_connections_open(self, args: Json, token: str | None) -> Json:
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    def _m_oauth_v2_access(self, args: Json, token: str | None) -> Json:
        team = self.oauth_codes.pop(str(args.get("code")), None)
        if args.get("client_id") != self.client_id or args.get("client_secret") != self.client_secret:
            return {"ok": False, "error": "invalid_client_id"}
        if team is None:
            return {"ok": False, "error": "invalid_code"}
        if team not in self.teams:
            self.teams.append(team)
        return {"ok": True, "app_id": "A0001", "authed_user": {"id": "UINSTALLER"}, "scope": "commands,chat:write",
                "token_type": "bot", "access_token": team.bot_token, "bot_user_id": team.bot_user_id,
                "team": {"id": team.id, "name": team.name}, "enterprise": None, "is_enterprise_install": False}

    # ----- response_url, uploads, Socket Mode

    async def _hook(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        body = await request.json()
        fault = self._take_fault(f"hook:{key}") or self._take_fault("hook")
        if fault is not None:
            with self._lock:
                self.hooks.append(Hook(key, body, time.monotonic(), fault.status))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return web.Response(status=fault.status, text=fault.error, headers=headers)
        problems = [] if body.get("delete_original") else check_message(body)
        if problems:
            return web.Response(status=400, text="invalid_blocks")
        with self._lock:
            self.hooks.append(Hook(key, body, time.monotonic()))
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        with self._lock:
            self.uploads[request.match_info["file_id"]] = data
        return web.Response(text=f"OK - {len(data)}")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
                            "connection_info": {"app_id": "A0001"}})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    with self._lock:
                        self.socket_frames.append({**json.loads(message.data), "_at": time.monotonic()})
        finally:
            self._sockets.remove(ws)
        return ws

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    def send_envelope(self, kind: str, payload: Json, *, envelope_id: str | None = None,
                      retry_attempt: int = 0) -> str:
        """Push a Socket Mode envelope (`events_api`, `slash_commands`, `interactive`); returns its id."""
        envelope_id = envelope_id or uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api", "retry_attempt": retry_attempt,
                    "retry_reason": "timeout" if retry_attempt else ""}

        async def push() -> None:
            await self._sockets[-1].send_json(envelope)

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(5)
        return envelope_id

    def acks(self, envelope_id: str) -> list[Json]:
        with self._lock:
            return [f for f in self.socket_frames if f.get("envelope_id") == envelope_id]


async def _arguments(request: web.Request) -> Json:
    args: Json = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(dict(await request.post()))
    if "client_id" not in args and request.headers.get("Authorization", "").startswith("Basic "):
        user, _, password = base64.b64decode(request.headers["Authorization"][6:]).decode().partition(":")
        args.update(client_id=user, client_secret=password)
    return args


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def _blocks(args: Json) -> list[Json]:
    blocks = args.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


# ----- Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks)

def check_message(args: Json) -> list[str]:
    """What Slack would refuse in a message's text and blocks."""
    problems = []
    if len(str(args.get("text") or "")) > 40_000:
        problems.append("text is longer than 40,000 characters")
    if not args.get("text") and not args.get("blocks"):
        problems.append("no text and no blocks")
    return problems + check_blocks(_blocks(args), limit=50)


def check_modal(view: Json) -> list[str]:
    """What Slack would refuse in a modal (https://docs.slack.dev/reference/views/modal-views)."""
    problems = [] if view.get("type") == "modal" else ["type must be modal"]
    for key, required in (("title", True), ("submit", False), ("close", False)):
        text = view.get(key)
        if text is None and not required:
            continue
        if not isinstance(text, dict) or text.get("type") != "plain_text" or not 1 <= len(text.get("text", "")) <= 24:
            problems.append(f"{key} must be plain_text of 1 to 24 characters")
    if len(str(view.get("callback_id") or "")) > 255 or len(str(view.get("private_metadata") or "")) > 3000:
        problems.append("callback_id or private_metadata too long")
    blocks = view.get("blocks") or []
    if any(b.get("type") == "input" for b in blocks) and "submit" not in view:
        problems.append("a modal with input blocks needs a submit button")
    for block in blocks:
        if block.get("type") == "input":
            label, element = block.get("label") or {}, block.get("element") or {}
            if label.get("type") != "plain_text" or not 1 <= len(label.get("text", "")) <= 2000:
                problems.append("input: label must be plain_text of at most 2000 characters")
            if element.get("type") == "plain_text_input" and not 0 < int(element.get("max_length", 3000)) <= 3000:
                problems.append("plain_text_input: max_length must be 1 to 3000")
    return problems + check_blocks(blocks, limit=100)


def check_blocks(blocks: list[Json], *, limit: int) -> list[str]:
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks, more than {limit}")
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)):
        problems.append("duplicate block_id")
    for n, block in enumerate(blocks):
        where = f"block {n} ({block.get('type')})"
        if len(str(block.get("block_id", ""))) > 255:
            problems.append(f"{where}: block_id longer than 255")
        kind = block.get("type")
        if kind == "section":
            text = (block.get("text") or {}).get("text", "")
            if len(text) > 3000:
                problems.append(f"{where}: text longer than 3000")
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                problems.append(f"{where}: fields over limits")
            if not text and not fields:
                problems.append(f"{where}: empty section")
        elif kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or len(text.get("text", "")) > 150:
                problems.append(f"{where}: header must be plain_text of at most 150 characters")
        elif kind == "context":
            if not 1 <= len(block.get("elements") or []) <= 10:
                problems.append(f"{where}: 1 to 10 elements")
        elif kind == "actions":
            elements = block.get("elements") or []
            ids = [e.get("action_id") for e in elements]
            if not 1 <= len(elements) <= 25:
                problems.append(f"{where}: 1 to 25 elements")
            if len(ids) != len(set(ids)):
                problems.append(f"{where}: duplicate action_id")
            for element in elements:
                label = (element.get("text") or {}).get("text", "")
                if len(label) > 75 or len(str(element.get("value", ""))) > 2000 or len(element["action_id"]) > 255:
                    problems.append(f"{where}: button over limits")
                if element.get("style") not in (None, "primary", "danger"):
                    problems.append(f"{where}: bad button style")
        elif kind not in ("divider", "image", "rich_text", "input", "file", "video"):
            problems.append(f"{where}: unknown block type")
    return problems
