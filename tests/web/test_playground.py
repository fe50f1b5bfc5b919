"""The playground, the third adapter: lines and buttons in, replies and live edits out as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.adapters.html import to_html
from bot.core.conversation import Image, Progress, Reply, Request
from bot.db.models import Feedback, User
from bot.web import playground
from bot.web.security import SlidingWindowLimiter
from tests.web.conftest import csrf

TENSOR = "How is a PyTorch tensor different from a numpy array?"
PNG = b"\x89PNG\r\n\x1a\nfake"


def send(client, body: dict, token: str | None = None) -> list[dict]:  # type: ignore[type-arg,no-untyped-def]
    """POST a line or button press; the reply events, in order (asserting the stream ends with `done`)."""
    token = token or csrf(client, "/playground")
    response = client.post("/playground/send", json=body, headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f.strip()]
    assert frames[-1].startswith("event: done")
    return [json.loads(f.split("data: ", 1)[1]) for f in frames if f.startswith("event: reply")]


def test_ask_answers_with_citation_buttons_and_safe_html(client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    [message] = send(client, {"text": f"/ask {TENSOR}"})
    assert message["kind"] == "answer" and not message["edit"]
    assert message["citation"].startswith("how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray")
    assert message["docs"][0] == {"label": "torch.Tensor", "url": "https://docs.pytorch.org/docs/stable/tensors.html"}
    assert [d["label"] for d in message["docs"]] == ["torch.Tensor", "torch.from_numpy", "torch.Tensor.numpy"]
    assert "<code>Tensor</code>" in message["title_html"]
    assert "<strong>GPU Acceleration:</strong>" in message["html"]
    labels = [b["label"] for b in message["buttons"]]
    assert "👍 Helpful" in labels and all("token" in b and "feedback:" not in b["token"] for b in message["buttons"])
    [plain] = send(client, {"text": "what is a dynamic computation graph?"})  # plain text is a question
    assert plain["kind"] == "answer"
    [declined] = send(client, {"text": "/ask how do I bake bread?"})
    assert declined["kind"] == "no_match"
    [unknown] = send(client, {"text": "/nonsense"})
    assert unknown["kind"] == "error" and "/nonsense" in unknown["html"]


def test_buttons_work_only_for_the_visitor_they_were_shown_to(app, client_for) -> None:  # type: ignore[no-untyped-def]
    alice, mallory = client_for(), client_for(address="10.0.0.2")
    [answer] = send(alice, {"text": TENSOR})
    up = next(b["token"] for b in answer["buttons"] if b["label"] == "👍 Helpful")
    [thanks] = send(alice, {"button": up})
    assert thanks["ephemeral"] and "Thanks" in thanks["html"]
    with app.state.runtime.database.session() as session:
        voters = session.execute(select(User.platform, User.platform_user_id).join(
            Feedback, Feedback.user_id == User.id)).all()
    assert len(voters) == 1 and voters[0][0] == "web" and voters[0][1].startswith("guest-")
    for token in (up, "forged-token", up[:-2] + "xx"):
        response = mallory.post("/playground/send", json={"button": token},
                                headers={"X-CSRF-Token": csrf(mallory, "/playground")})
        assert response.status_code == 400 and "not one the bot showed you" in response.json()["detail"]


def test_a_logged_in_account_talks_as_itself(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    assert "ada" in admin.get("/playground").text
    send(admin, {"text": TENSOR})
    with app.state.runtime.database.session() as session:
        user = session.scalars(select(User).where(User.platform == "web")).one()
    assert user.display_name == "ada" and user.platform_user_id.startswith("account-")


def test_edits_stream_live_and_replace_the_message(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    async def countdown(request: Request) -> AsyncIterator[Reply]:
        first = Reply("Running… 0%", title="Demo", progress=Progress(0.0, "queued"))
        yield first
        for done in (50, 100):
            await asyncio.sleep(0.01)
            yield first.edit(text="Done" if done == 100 else "Running… 99%", progress=Progress(done / 100, "step"),
                             images=(Image(PNG),) if done == 100 else ())

    runtime.tutor.command("countdown", countdown)
    messages = send(client_for(), {"text": "/countdown"})
    assert [m["progress"] for m in messages] == [0.0, 0.5, 1.0]  # from the field: the text's "99%" is not read
    assert [m["edit"] for m in messages] == [False, True, True]
    assert len({m["message_id"] for m in messages}) == 1
    assert messages[-1]["images"][0].startswith("data:image/png;base64,")


def test_keepalive_comments_flow_while_the_core_is_busy(runtime, client_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    async def slow(request: Request) -> Reply:
        await asyncio.sleep(0.3)
        return Reply("finally")

    runtime.tutor.command("slow", slow)
    monkeypatch.setattr(playground, "KEEPALIVE_S", 0.05)
    client = client_for()
    response = client.post("/playground/send", json={"text": "/slow"},
                           headers={"X-CSRF-Token": csrf(client, "/playground")})
    assert ": waiting" in response.text and "finally" in response.text


def test_the_playground_is_rate_limited_per_visitor(app, client_for) -> None:  # type: ignore[no-untyped-def]
    app.state.playground_limiters = (SlidingWindowLimiter(2, 60), SlidingWindowLimiter(100, 60))
    client = client_for()
    token = csrf(client, "/playground")
    send(client, {"text": "/help"}, token)
    send(client, {"text": "/help"}, token)
    refused = client.post("/playground/send", json={"text": "/help"}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    send(client_for(address="10.0.0.3"), {"text": "/help"})  # another visitor is not affected


def test_blank_lines_and_a_starting_bot_are_refused_clearly(runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    token = csrf(client, "/playground")
    assert client.post("/playground/send", json={"text": "  "}, headers={"X-CSRF-Token": token}).status_code == 400
    runtime.ready = False
    response = client.post("/playground/send", json={"text": "/help"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 503 and "starting" in response.json()["detail"]


def test_the_playground_is_public_but_csrf_protected_with_security_headers(client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    page = client.get("/playground")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert client.post("/playground/send", json={"text": "/help"}).status_code == 403
    forged = client.post("/playground/send", json={"text": "/help"}, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403


def test_sliding_window_limiter_forgets_old_events() -> None:
    limiter = SlidingWindowLimiter(2, 10.0)
    assert limiter.hit("a", now=0.0) == 0.0 and limiter.hit("a", now=1.0) == 0.0
    assert limiter.hit("a", now=2.0) == pytest.approx(8.0)
    assert limiter.hit("a", now=10.5) == 0.0


@pytest.mark.parametrize(("text", "html"), [
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ("use `x<y` and **bold**", "<p>use <code>x&lt;y</code> and <strong>bold</strong></p>"),
    ("```python\nif a < b:\n    pass\n```", '<pre><code class="language-python">if a &lt; b:\n    pass</code></pre>'),
    ("[docs](https://pytorch.org/docs) [bad](javascript:alert(1))",
     '<p><a href="https://pytorch.org/docs" rel="noopener noreferrer nofollow" target="_blank">docs</a> '
     "[bad](javascript:alert(1))</p>"),
    ("- one\n- two", "<ul><li>one</li><li>two</li></ul>"),
    ("Reasons:\n- **a**\n- b\nthen\n1. x", "<p>Reasons:</p><ul><li><strong>a</strong></li><li>b</li></ul><p>then</p>"
     "<ol><li>x</li></ol>"),
    ("snake_case_name and __init__", "<p>snake_case_name and __init__</p>"),
    ('`"quoted" <b>`', "<p><code>&#34;quoted&#34; &lt;b&gt;</code></p>"),
])
def test_markup_escapes_everything_then_marks_up(text: str, html: str) -> None:
    assert str(to_html(text)) == html
