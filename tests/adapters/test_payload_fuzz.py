"""Property-based fuzzing (Hypothesis, fixed seed, bounded examples) of the Slack and Discord payload parsers:
whatever a payload holds, parsing it either refuses it with a reason or yields a Request, never an exception;
and signed random payloads sent to the real Slack endpoint never get a 5xx or an ERROR log line."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

import discord
from discord.http import HTTPClient
from discord.state import ConnectionState
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.adapters.discord import translate as discord_translate
from bot.adapters.slack import translate as slack_translate
from bot.adapters.slack.http import malformed
from tests.adapters.test_slack_guard import SECRET, _post, fake, slack  # noqa: F401  (fixtures)
from tests.fakes.slack_api import sign

FUZZ = settings(max_examples=250, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
SLACK_KEYS = ["type", "team", "user", "channel", "enterprise", "container", "message", "view", "event", "actions",
              "authorizations", "blocks", "elements", "action_id", "block_id", "value", "ts", "thread_ts",
              "message_ts", "user_id", "team_id", "channel_id", "id", "text", "private_metadata", "response_url",
              "tab", "subtype", "bot_id", "channel_type", "event_id", "command", "is_enterprise_install",
              "is_ext_shared_channel", "name", "username", "previous_message", "item", "is_ephemeral"]
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # lone surrogates too
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT \
    | st.sampled_from(["block_actions", "event_callback", "app_mention", "message", "im", "tt:0",
                       "feedback:up:1", "slack-command:help", "/tt-ask", "U1", "C1", "T0001", "1.2"])
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(SLACK_KEYS), inner, max_size=6), max_leaves=30)
SLACK_PAYLOADS = st.dictionaries(st.sampled_from(SLACK_KEYS), JSON_VALUES, max_size=8) | JSON_VALUES
SLACK_FORMS = st.dictionaries(st.sampled_from(["command", "text", "user_id", "user_name", "team_id", "channel_id",
                                               "channel_name", "response_url", "enterprise_id", "trigger_id"]),
                              ANY_TEXT, max_size=8)


@given(payload=SLACK_PAYLOADS)
@FUZZ
def test_slack_payloads_are_refused_with_a_reason_or_parsed(payload: Any) -> None:
    problem = slack_translate.payload_problem(payload)
    if problem is not None:
        assert isinstance(problem, str) and "\n" not in problem
        return
    slack_translate.from_action(payload)
    slack_translate.from_message(payload, accepts_free_text=True)
    slack_translate.from_command(payload, "tt-")
    AsyncBoltRequest(body=json.dumps(payload), headers={"content-type": ["application/json"]})  # Bolt's parsing


@given(fields=SLACK_FORMS)
@FUZZ
def test_slash_command_forms_always_parse(fields: dict[str, str]) -> None:
    from urllib.parse import urlencode

    body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in fields.items()}).encode()
    problem = malformed(body, "application/x-www-form-urlencoded")
    if problem is None:
        request = slack_translate.from_command(dict(fields), "tt-")
        assert request.platform == "slack"


@functools.cache
def _discord_state() -> ConnectionState:
    loop = asyncio.new_event_loop()  # never run: the state only needs one to exist
    return ConnectionState(dispatch=lambda *a: None, handlers={}, hooks={}, http=HTTPClient(loop),
                           intents=discord.Intents.default())


SNOWFLAKES = st.integers(min_value=1, max_value=2**63 - 1).map(str)
DISCORD_USERS = st.fixed_dictionaries({"id": SNOWFLAKES, "username": ANY_TEXT, "discriminator": st.just("0"),
                                       "avatar": st.none()}, optional={"global_name": ANY_TEXT | st.none(),
                                                                       "bot": st.booleans()})


@given(content=ANY_TEXT | st.text(max_size=200), author=DISCORD_USERS, mentions=st.lists(DISCORD_USERS, max_size=3),
       guild=st.none() | SNOWFLAKES, custom_id=ANY_TEXT | st.text(alphabet="tt:more0123456789²٣x", max_size=20))
@FUZZ
def test_discord_messages_and_buttons_parse(content: str, author: dict[str, Any], mentions: list[dict[str, Any]],
                                            guild: str | None, custom_id: str) -> None:
    """MESSAGE_CREATE payloads in the gateway's documented shape, with anything in their text fields."""
    state = _discord_state()
    data = {"id": "10", "channel_id": "20", "author": author, "content": content, "mentions": mentions,
            "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
            "type": 0, **({"guild_id": guild} if guild else {})}
    message = discord.Message(state=state, channel=discord.PartialMessageable(state=state, id=20), data=data)
    text = discord_translate.mention_text(message, 99)
    route = discord_translate.route_message(message, 99) or discord_translate.MessageRoute("ask", text, "", False,
                                                                                          False)
    request = discord_translate.message_request(message, route)
    for value in (request.text, request.user.name, request.channel_name):
        value.encode("utf-8")  # storable: no lone surrogates left
    page = discord_translate.show_more_page(custom_id, "tt:more")
    assert page is None or (page[0] and 0 <= page[1] < 10_000)


def _examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples of a strategy, the same ones every run."""
    seen: list[Any] = []

    @given(strategy)
    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def collect(value: Any) -> None:
        seen.append(value)

    collect()
    return seen


async def test_signed_random_payloads_never_get_a_5xx(slack) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Through the real endpoint: checked, claimed, then Bolt and the listeners; the fixture fails on ERROR logs."""
    from urllib.parse import urlencode

    statuses: dict[int, int] = {}
    for n, payload in enumerate(_examples(SLACK_PAYLOADS, 120)):
        text = json.dumps(payload)
        if n % 2:
            body, content_type = text, "application/json"
        else:
            body, content_type = urlencode({"payload": text}), "application/x-www-form-urlencoded"
        response = await _post(slack, body, content_type, headers=sign(SECRET, body))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (payload, response.status_code, response.text[:200])
    assert statuses.get(400), "some payloads are malformed"
    logging.getLogger(__name__).info("statuses: %s", statuses)
