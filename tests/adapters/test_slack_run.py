"""`/run` on Slack: the slash command with a code block, and the "Run with torchtutor" message shortcut, through
the real Bolt app on signed requests, run in the real sandbox by the local worker pool."""

from __future__ import annotations

import json
import shutil
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.adapters.slack import translate
from bot.core.demos.snippets import RunSettings
from bot.db import channel_switches, repo
from bot.db.run_models import RunChannel
from tests.adapters.test_slack import (  # noqa: F401 - `real` is a fixture
    PREFIX,
    STEVE,
    TEAM,
    _signed,
    _until,
    all_text,
    real,
)
from tests.fakes.slack_api import form_body
from tests.services import in_ci

CODE = "x = 1 < 2 and 3 > 2\nprint('compared:', x & True)"
ESCAPED = CODE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # as Slack sends any text


def slash_fields(command: str, text: str, *, channel: str, response_url: str) -> dict[str, str]:
    """Slack's documented slash command fields (written here, not copied), for one of our commands."""
    return {"token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": TEAM, "team_domain": "torchtutor-test",
            "enterprise_id": "", "enterprise_name": "", "channel_id": channel, "channel_name": "study",
            "user_id": STEVE, "user_name": "steve", "command": command, "text": text, "api_app_id": "A123456",
            "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0"}


def message_shortcut(text: str, *, channel: str, response_url: str) -> str:
    """Slack's documented `message_action` payload (a message shortcut), form-encoded as Slack posts it."""
    payload = {
        "type": "message_action", "token": "Zz", "action_ts": "1581106241.371594",
        "team": {"id": TEAM, "domain": "torchtutor-test"},
        "user": {"id": STEVE, "username": "steve", "team_id": TEAM, "name": "steve"},
        "channel": {"id": channel, "name": "study"},
        "callback_id": translate.RUN_SHORTCUT,
        "trigger_id": "944799105734.773906753841.38b5894552bdd4a780554ee59d1f3638",
        "message_ts": "1581106191.000300",
        "message": {"type": "message", "user": "UA8RXUSPL", "ts": "1581106191.000300", "text": text},
        "response_url": response_url,
    }
    return urlencode({"payload": json.dumps(payload)})


def test_slash_run_and_the_shortcut_become_run_requests_with_the_code_as_typed() -> None:
    request = translate.from_command(slash_fields(f"/{PREFIX}run", f"```{ESCAPED}```", channel="C1",
                                                  response_url="https://hooks.slack.test/x"), PREFIX)
    assert (request.command, request.text) == ("run", f"```{CODE}```")
    assert request.handle.preface.endswith(f"used /{PREFIX}run")  # the code is not echoed
    body = json.loads(dict(parse_qsl(message_shortcut(f"look:\n```{ESCAPED}```", channel="C2",
                                                      response_url="u")))["payload"])
    request = translate.from_run_shortcut(body)
    assert (request.command, request.channel_id, request.workspace_id) == ("run", "C2", TEAM)
    assert request.text == f"look:\n```{CODE}```" and request.user.platform_id == STEVE


async def test_run_by_slash_command_and_by_message_shortcut(real) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    if shutil.which("bwrap") is None:
        if in_ci():
            pytest.fail("bubblewrap is not installed; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip("bubblewrap is not installed")
    runtime, adapter, fake, client = real
    runtime.demos.edit_interval = 0.2
    runs = runtime.tutor._commands["run"].__self__
    runs.settings = RunSettings(enabled=True)
    with runtime.database.transaction() as session:
        channel = repo.get_or_create_channel(session=session, platform="slack", workspace_id=TEAM,
                                             platform_channel_id="CRUN")
        channel_switches.turn(session=session, switch=RunChannel, channel_id=channel.id, on=True, user_id=None)
    runtime.start_workers()

    def finished() -> list[Any]:
        return [c for c in fake.calls_to("chat.update")
                if c.args["channel"] == "CRUN" and "Finished" in all_text(c.args["blocks"])]

    await _signed(client, form_body(slash_fields(f"/{PREFIX}run", f"```python\n{ESCAPED}\n```", channel="CRUN",
                                                 response_url=fake.response_url())))
    [result] = await _until(finished, timeout=120)
    assert "compared: True" in all_text(result.args["blocks"])

    await _signed(client, message_shortcut(f"try this\n```{ESCAPED.replace('compared', 'shortcut')}```",
                                           channel="CRUN", response_url=fake.response_url()))
    await _until(lambda: len(finished()) == 2, timeout=120)
    assert "shortcut: True" in all_text(finished()[-1].args["blocks"])
    await adapter.drain()

    await _signed(client, form_body(slash_fields(f"/{PREFIX}run", "print(1)", channel="COFF",
                                                 response_url=fake.response_url())))
    refusal = await _until(lambda: [h for h in fake.hooks if "not turned on" in json.dumps(h.body)]
                           or [c for c in fake.calls_to("chat.postEphemeral") if "not turned on"
                               in json.dumps(c.args)], timeout=30)
    assert refusal


def view_submission(view: dict[str, Any], code: str) -> str:
    """Slack's documented `view_submission` payload for the opened modal with `code` typed in its field."""
    submitted = {**view, "state": {"values": {translate.RUN_FORM_BLOCK: {translate.RUN_FORM_INPUT: {
        "type": "plain_text_input", "value": code}}}}}
    submitted.pop("trigger_id", None)
    payload = {"type": "view_submission", "token": "Zz", "api_app_id": "A123456",
               "team": {"id": TEAM, "domain": "torchtutor-test"},
               "user": {"id": STEVE, "username": "steve", "name": "steve", "team_id": TEAM},
               "trigger_id": "944799105734.773906753841.38b5894552bdd4a780554ee59d1f3639",
               "view": submitted, "response_urls": [], "is_enterprise_install": False, "enterprise": None}
    return urlencode({"payload": json.dumps(payload)})


async def test_run_without_code_opens_a_form_whose_code_runs_in_the_channel(real) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    if shutil.which("bwrap") is None:
        if in_ci():
            pytest.fail("bubblewrap is not installed; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip("bubblewrap is not installed")
    runtime, adapter, fake, client = real
    runtime.tutor._commands["run"].__self__.settings = RunSettings(enabled=True)
    with runtime.database.transaction() as session:
        channel = repo.get_or_create_channel(session=session, platform="slack", workspace_id=TEAM,
                                             platform_channel_id="CFORM")
        channel_switches.turn(session=session, switch=RunChannel, channel_id=channel.id, on=True, user_id=None)
    runtime.start_workers()

    fields = slash_fields(f"/{PREFIX}run", "  ", channel="CFORM", response_url=fake.response_url())
    response, _ = await _signed(client, form_body(fields))
    assert response.status_code == 200
    [opened] = await _until(lambda: fake.calls_to("views.open"))
    assert opened.args["trigger_id"] == fields["trigger_id"]
    [view] = fake.views
    assert view["callback_id"] == translate.RUN_FORM and view["submit"]["text"] == "Run"
    assert [b["type"] for b in view["blocks"]] == ["input"] and view["blocks"][0]["element"]["multiline"]

    refused, _ = await _signed(client, view_submission(view, "   \n"))  # blank: shown under the field
    assert refused.status_code == 200
    assert refused.json() == {"response_action": "errors",
                              "errors": {translate.RUN_FORM_BLOCK: refused.json()["errors"]["code"]}}
    assert "no code to run" in refused.json()["errors"]["code"]

    closed, _ = await _signed(client, view_submission(view, CODE))  # `<` and `&` as typed: a form is not escaped
    assert closed.status_code == 200 and not closed.content  # an empty acknowledgement closes the form
    finished = await _until(lambda: [c for c in fake.calls_to("chat.update") if c.args["channel"] == "CFORM"
                                     and "Finished" in all_text(c.args["blocks"])], timeout=120)
    assert "compared: True" in all_text(finished[-1].args["blocks"])
    posted = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "CFORM"]
    assert posted and "used /tt-run" in all_text(posted[0].args.get("blocks") or []) + str(posted[0].args["text"])
    await adapter.drain()
    assert not [c for c in fake.calls_to("chat.postEphemeral") if "Run your own PyTorch code" in json.dumps(c.args)]


async def test_run_without_code_answers_with_usage_when_slack_will_not_open_the_form(real) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    runtime, adapter, fake, client = real
    fake.fail("views.open", "expired_trigger_id")
    await _signed(client, form_body(slash_fields(f"/{PREFIX}run", "", channel="CFORM",
                                                 response_url=fake.response_url())))
    usage = await _until(lambda: [h for h in fake.hooks if "Run your own PyTorch code" in json.dumps(h.body)]
                         or [c for c in fake.calls_to("chat.postEphemeral")
                             if "Run your own PyTorch code" in json.dumps(c.args)])
    assert usage and fake.calls_to("views.open", ok=False)
    await adapter.drain()
