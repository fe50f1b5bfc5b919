"""The Slack adapter: a Bolt AsyncApp whose listeners acknowledge at once, then translate, call the core, render.

Every listener calls `ack()` before anything slow (Slack waits 3 seconds); the work runs afterwards in a task of
this adapter, on the same event loop as the web app. Events API deliveries are claimed by `event_id` in the
database before they are acknowledged, so Slack's retries (`X-Slack-Retry-Num`) never produce a second answer,
whichever process they reach. The same app serves HTTP (`POST /slack/events`) and Socket Mode.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack import translate
from bot.adapters.slack.delivery import EditPacer, Outbox, Posted, retry_handlers
from bot.adapters.slack.home import home_view
from bot.adapters.slack.render import ACTION_ID_PREFIX
from bot.adapters.slack.stores import DatabaseInstallationStore, DatabaseOAuthStateStore
from bot.adapters.slack.translate import rename_commands
from bot.config import Settings
from bot.core.conversation import Person, Placement, Reply, Request
from bot.core.demos.snippets import extract_code
from bot.core.errors import BadInput
from bot.core.outbox import Outbox as CoreOutbox
from bot.core.telemetry import Telemetry
from bot.core.tutor import Tutor
from bot.db import slack as slack_db
from bot.db.engine import Database

log = logging.getLogger(__name__)

# channels:history and groups:history: the messages of public and private channels the bot is a member of
# (follow-ups in its threads, auto-answer channels); Slack sends none from channels it was not invited to.
BOT_SCOPES = ("commands", "chat:write", "app_mentions:read", "im:history", "channels:history", "groups:history",
              "files:write", "users:read")
EVENT_RETRY_WINDOW = timedelta(hours=2)  # Slack retries for about an hour and a half at most
PURGE_EVERY_S = 300.0
PERSON_TTL_S = 600.0
READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 30.0
SILENT_KINDS = frozenset({"error", "unavailable"})  # never shown for a message that did not address the bot


class PeopleCache:
    """Who a Slack user is (display name, admin or owner), from `users.info`, remembered for a while."""

    def __init__(self, ttl: float = PERSON_TTL_S, clock: Callable[[], float] = time.monotonic,
                 channel_admins: frozenset[str] = frozenset()) -> None:
        self.ttl = ttl
        self.clock = clock
        self.channel_admins = channel_admins
        self._known: dict[tuple[str, str], tuple[float, Person]] = {}

    async def person(self, client: AsyncWebClient, team_id: str, user_id: str, name_hint: str = "") -> Person:
        key = (team_id, user_id)
        cached = self._known.get(key)
        if cached and cached[0] > self.clock():
            return cached[1]
        ttl = self.ttl
        try:
            user = (await client.users_info(user=user_id)).get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("name") or name_hint
            admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
            person = Person(platform_id=user_id, name=str(name), is_admin=admin,
                            can_manage_channel=admin or user_id in self.channel_admins)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            person = Person(platform_id=user_id, name=name_hint, can_manage_channel=user_id in self.channel_admins)
            ttl = 60.0
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = (self.clock() + ttl, person)
        return person


class SlackAdapter:
    """Owns the Bolt app, its listeners, and the tasks that answer after the acknowledgement
    (bot.core.adapter.Adapter: the runtime runs it)."""

    platform = translate.PLATFORM

    def __init__(self, *, tutor: Tutor, settings: Settings, database: Database,
                 ready: Callable[[], bool] = lambda: True, pacer: EditPacer | None = None,
                 telemetry: Telemetry | None = None,
                 outbox: CoreOutbox | None = None, socket_mode: bool = False) -> None:
        self.tutor = tutor
        self.socket_mode = socket_mode  # `run()` connects over Socket Mode (`torchtutor run`, not `serve`)
        self.telemetry = telemetry
        self.settings = settings
        self.database = database
        self.ready = ready
        self.prefix = settings.slack_command_prefix
        self.pacer = pacer or EditPacer()
        self.people = PeopleCache(channel_admins=settings.slack_channel_admin_ids)
        self.app = self._build_app()
        self.handler = AsyncSlackRequestHandler(self.app)
        self.signing_secret = (settings.slack_signing_secret.get_secret_value().encode()
                               if settings.slack_signing_secret else b"")
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_purge = float("-inf")
        self._socket_mode: Any = None
        self._register()
        self.outbox = outbox
        if outbox is not None:
            outbox.register(translate.PLATFORM, SlackChannelPoster(self))

    # ----- construction

    def _client(self, token: str | None) -> AsyncWebClient:
        kwargs: dict[str, Any] = {"token": token, "retry_handlers": retry_handlers()}
        if self.settings.slack_api_url:
            kwargs["base_url"] = self.settings.slack_api_url
        return AsyncWebClient(**kwargs)

    def _build_app(self) -> AsyncApp:
        settings = self.settings
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        bot_token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        if not settings.has_slack_oauth:
            return AsyncApp(name="torchtutor", signing_secret=secret, client=self._client(bot_token),
                            process_before_response=False)
        client = self._client(None)
        client_id = settings.slack_client_id or ""
        client_secret = settings.slack_client_secret.get_secret_value() if settings.slack_client_secret else ""
        oauth = AsyncOAuthSettings(
            client_id=client_id, client_secret=client_secret, scopes=list(BOT_SCOPES),
            installation_store=DatabaseInstallationStore(client_id, self.database.engine,
                                                         fallback_token=bot_token, client=client),
            state_store=DatabaseOAuthStateStore(self.database.engine),
            install_path="/slack/install", redirect_uri_path="/slack/oauth_redirect", logger=log,
        )
        return AsyncApp(name="torchtutor", signing_secret=secret, client=client, oauth_settings=oauth,
                        process_before_response=False)

    @property
    def oauth_paths(self) -> tuple[str, str] | None:
        """The install and redirect paths to route to Bolt's OAuth flow, when installing through OAuth."""
        flow = self.app.oauth_flow
        return (flow.install_path, flow.redirect_uri_path) if flow is not None else None

    def _register(self) -> None:
        app = self.app
        app.middleware(self._drop_retries)
        for slash in translate.slash_commands(self.prefix):
            app.command(slash)(self._on_command)
        app.action(re.compile("^" + re.escape(ACTION_ID_PREFIX)))(self._on_action)
        app.shortcut(translate.RUN_SHORTCUT)(self._on_shortcut)
        app.shortcut(translate.ASK_SHORTCUT)(self._on_shortcut)
        app.view(translate.RUN_FORM)(self._on_run_form)
        app.event("app_mention")(self._on_message)
        app.event("message")(self._on_message)
        app.event("app_home_opened")(self._on_home)
        app.error(self._on_error)

    # ----- middleware and listeners (each acknowledges first)

    async def _drop_retries(self, body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        """Claim an event's id before acknowledging it; a later delivery of the same id is acknowledged, unused."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await asyncio.to_thread(self._claim, str(event_id)):
            log.info("dropping a repeated delivery of Slack event %s", event_id)
            return BoltResponse(status=200, body="")
        await next()
        return None

    def _claim(self, event_id: str) -> bool:
        with self.database.transaction() as session:
            if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                self._last_purge = time.monotonic()
                slack_db.forget_events(session=session, older_than=EVENT_RETRY_WINDOW)
            return slack_db.claim_event(session=session, event_id=event_id)

    def claim_request(self, timestamp: str, signature: str) -> bool:
        """Take a signed HTTP request once: False for a replay of one already taken (same timestamp, signature)."""
        return self._claim(slack_db.request_key(timestamp, signature))

    async def _on_command(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any],
                          client: AsyncWebClient) -> None:
        await ack()
        if translate.wants_run_form(body, self.prefix) and await self._open_run_form(body, client):
            return
        self.spawn(self.serve(translate.from_command(body, self.prefix), client))

    async def _open_run_form(self, body: dict[str, Any], client: AsyncWebClient) -> bool:
        """Open the `/run` code form (the trigger lasts 3 seconds); False if Slack refused, to answer with usage."""
        try:
            await client.views_open(trigger_id=str(body["trigger_id"]), view=translate.run_form(body))
            return True
        except SlackApiError as exc:
            log.warning("views.open for /run failed: %s", exc.response.get("error"))
            return False

    async def _on_run_form(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any],
                           client: AsyncWebClient) -> None:
        """The submitted `/run` form: blank code is shown under the field (the form stays open), else it runs."""
        try:
            extract_code(translate.run_form_code(body))
        except BadInput as exc:
            await ack(response_action="errors", errors={translate.RUN_FORM_BLOCK: str(exc)})
            return
        await ack()
        self.spawn(self.serve(translate.from_run_form(body, self.prefix), client))

    async def _on_action(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any],
                         client: AsyncWebClient) -> None:
        await ack()
        self.spawn(self.serve(translate.from_action(body), client))

    async def _on_shortcut(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any],
                           client: AsyncWebClient) -> None:
        """A message shortcut: "Run with torchtutor" or "Ask torchtutor"."""
        await ack()
        ask = body.get("callback_id") == translate.ASK_SHORTCUT
        request = translate.from_ask_shortcut(body) if ask else translate.from_run_shortcut(body)
        self.spawn(self.serve(request, client))

    async def _on_message(self, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        request = translate.from_message(body, accepts_free_text=self.tutor.accepts_free_text,
                                         bot_user_id=context.bot_user_id or translate.bot_user_of(body))
        if request is not None:
            self.spawn(self.serve(request, client))

    async def _on_home(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home":
            self.spawn(self.publish_home(translate.home_request(event, str(body.get("team_id", ""))), client))

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack request failed: %s", error, exc_info=error)

    # ----- the work after the acknowledgement

    def spawn(self, work: Awaitable[None]) -> None:
        """Run work after the acknowledgement, tracked so shutdown can wait for it."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve(self, request: Request, client: AsyncWebClient) -> None:
        """Translate-call-render for one request: who asked, the core's replies, each sent to Slack."""
        handle: translate.SlackHandle = request.handle
        outbox = Outbox(client, handle, pacer=self.pacer, prefix=self.prefix, telemetry=self.telemetry,
                        shown=self.tutor.shown)
        try:
            if not await self._wait_ready():
                if not handle.unasked:
                    await outbox.send(Reply("I'm still starting up. Try again in a minute.", ephemeral=True,
                                            kind="error"))
                return
            person = await self.people.person(client, handle.team_id, handle.user_id, request.user.name)
            replies = self.tutor.handle(translate.with_person(request, person))
            await outbox.deliver(_answers_only(replies) if handle.unasked else replies)
        except asyncio.CancelledError:
            raise
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("Slack request failed (incident %s)", incident)
            if handle.unasked:
                return
            try:
                await outbox.send(Reply(f"Sorry, something went wrong on my side (incident `{incident}`).",
                                        ephemeral=True, kind="error"))
            except Exception:
                log.exception("could not tell the person about incident %s", incident)

    async def publish_home(self, request: Request, client: AsyncWebClient) -> None:
        """Publish the person's App Home tab."""
        try:
            if not await self._wait_ready():
                return
            person = await self.people.person(client, request.workspace_id, request.user.platform_id)
            view = await home_view(self.tutor, translate.with_person(request, person), self.prefix)
            await client.views_publish(user_id=request.user.platform_id, view=view)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not publish the App Home of %s", request.user.platform_id)

    async def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.ready():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def client_for(self, team_id: str, enterprise_id: str | None = None) -> AsyncWebClient:
        """A client holding a workspace's bot token: the single bot token, or the one its installation saved."""
        store = self.app.installation_store
        if self.app.oauth_flow is None or store is None:
            return self.app.client
        bot = await store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise LookupError(f"torchtutor is not installed in Slack workspace {team_id}")
        return self._client(bot.bot_token)

    # ----- lifecycle

    async def start_socket_mode(self) -> None:
        """Connect to Slack over Socket Mode (no public URL needed)."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        token = self.settings.slack_app_token.get_secret_value() if self.settings.slack_app_token else None
        if token is None:
            raise RuntimeError("TORCHTUTOR_SLACK_APP_TOKEN is not set")
        self._socket_mode = AsyncSocketModeHandler(self.app, token, logger=logging.getLogger("slack_sdk.socket"))
        await self._socket_mode.connect_async()
        log.info("Slack Socket Mode connected")

    async def run(self) -> None:
        """The adapter's life as the runtime runs it: Socket Mode when `socket_mode` and its token are set (a
        refused connection is logged and the HTTP endpoint stays), then serve until cancelled and close."""
        try:
            if self.socket_mode and self.settings.has_slack_socket_mode:
                try:
                    await self.start_socket_mode()
                except Exception as exc:  # the web app stays useful; the operator sees why Slack is not connected
                    log.error("Slack Socket Mode could not connect: %s", exc)
            await asyncio.Event().wait()
        finally:
            await self.aclose()

    async def aclose(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Stop posting to channels, stop Socket Mode and let answers in flight finish (up to `timeout`)."""
        if self.outbox is not None:
            self.outbox.unregister(translate.PLATFORM)
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
            self._socket_mode = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()

    async def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Wait for the answers in flight (tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


async def _answers_only(replies: AsyncIterator[Reply]) -> AsyncIterator[Reply]:
    """The replies to a message not addressed to the bot, without errors: nobody asked, so nobody is told."""
    async for reply in replies:
        if reply.kind in SILENT_KINDS:
            log.info("not showing a %s reply to a message nobody addressed to the bot", reply.kind)
            continue
        yield reply


class SlackChannelPoster:
    """Posts the core's unsolicited replies (study questions, round results) with `chat.postMessage`, and edits
    messages found by their placement (a demo's message picked up after a restart) with `chat.update`.

    Rendered like any reply (blocks, buttons, images uploaded into the thread); failures are raised for the
    core's Outbox to log.
    """

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> None:
        adapter = self.adapter
        client = await adapter.client_for(workspace_id)
        # Nobody asked: there is no person to answer privately, so the channel sees what is posted to it.
        handle = translate.SlackHandle(team_id=workspace_id, channel_id=channel_id, user_id="", source="channel")
        outbox = Outbox(client, handle, pacer=adapter.pacer, prefix=adapter.prefix)
        if reply.ephemeral:
            log.warning("a private %s addressed to channel %s is posted for the whole channel", reply.kind, channel_id)
        posted = await outbox.post(rename_commands(replace(reply, ephemeral=False, edits=None), adapter.prefix))
        if posted is None:
            raise RuntimeError(f"Slack refused a {reply.kind} for channel {channel_id} (see the log above)")

    async def edit(self, placement: Placement, reply: Reply) -> None:
        """Update a message posted earlier (perhaps by another process) with `chat.update`; raises if refused."""
        adapter, message = self.adapter, placement.message
        client = await adapter.client_for(placement.workspace_id, message.get("enterprise_id"))
        handle = translate.SlackHandle(team_id=placement.workspace_id, channel_id=placement.channel_id, user_id="",
                                       source="channel")
        outbox = Outbox(client, handle, pacer=adapter.pacer, prefix=adapter.prefix, telemetry=adapter.telemetry)
        posted = Posted("message", placement.channel_id, ts=str(message["ts"]), thread_ts=message.get("thread_ts"),
                        preface=message.get("preface"))
        await outbox.update(rename_commands(reply, adapter.prefix), posted, reply.edits or reply.id)


def build_slack_adapter(runtime: Any, *, socket_mode: bool = False) -> SlackAdapter:
    """The adapter for a runtime whose settings have Slack credentials; it posts study channels' questions."""
    return SlackAdapter(tutor=runtime.tutor, settings=runtime.settings, database=runtime.database,
                        ready=lambda: bool(runtime.ready), telemetry=runtime.metrics, outbox=runtime.outbox,
                        socket_mode=socket_mode)
