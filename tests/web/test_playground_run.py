"""`/run` in the playground: only dashboard admins may turn it on for their playground channel, and a snippet
then runs in the sandbox on the local worker pool, its result streamed into the same message."""

from __future__ import annotations

import shutil

import pytest

from bot.core.runs import RunSettings
from tests.services import in_ci
from tests.web.test_playground import send


def test_an_admin_turns_run_on_and_a_snippet_streams_its_result(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("bwrap") is None:
        if in_ci():
            pytest.fail("bubblewrap is not installed; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip("bubblewrap is not installed")
    runtime.tutor._commands["run"].__self__.settings = RunSettings(enabled=True)
    runtime.demos.edit_interval = 0.2
    runtime.start_workers()
    guest, admin = client_for(), client_for("ada")

    [refused] = send(guest, {"text": "/run on"})
    assert refused["kind"] == "error" and "only someone who can manage this channel" in refused["html"]
    [not_on] = send(guest, {"text": "/run print(1)"})
    assert not_on["kind"] == "error" and "not turned on in this channel" in not_on["html"]

    [on] = send(admin, {"text": "/run on"})
    assert "<strong>on</strong>" in on["html"]
    messages = send(admin, {"text": "/run import matplotlib.pyplot as plt; plt.plot([3, 1, 2]); print('drawn', 6 * 7)"})
    first, final = messages[0], messages[-1]
    assert first["title"] == "Your snippet" and not first["edit"]
    assert final["edit"] and final["message_id"] == first["message_id"] and final["kind"] == "job_result"
    assert "Finished" in final["html"] and "drawn 42" in final["html"]
    assert len(final["images"]) == 1 and final["images"][0].startswith("data:image/png;base64,")
    [still_off] = send(guest, {"text": "/run print(1)"})  # each visitor has a channel of their own
    assert "not turned on in this channel" in still_off["html"]
