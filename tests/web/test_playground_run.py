"""`/run` in the playground: only dashboard admins may turn it on for their playground channel, and a snippet
then runs in the sandbox on the local worker pool, its result streamed into the same message."""

from __future__ import annotations

import base64
import shutil

import pytest

from bot.core.demos.snippets import RunSettings
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
    assert final["files"] == []  # short output: nothing to download


def test_a_long_output_comes_whole_as_a_download_for_that_visitor_only(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("bwrap") is None:
        if in_ci():
            pytest.fail("bubblewrap is not installed; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip("bubblewrap is not installed")
    runtime.tutor._commands["run"].__self__.settings = RunSettings(enabled=True)
    runs = runtime.tutor._commands["run"].__self__
    started, start_run = [], runs.start_run
    runs.start_run = lambda *a, **k: started.append(start_run(*a, **k)) or started[-1]  # to learn the job's id
    runtime.start_workers()
    admin, other = client_for("ada"), client_for(address="10.0.0.2")
    send(admin, {"text": "/run on"})
    final = send(admin, {"text": "/run for n in range(400): print('line', n)"})[-1]
    assert final["kind"] == "job_result" and "line 0" in final["html"] and "line 399" not in final["html"]
    assert "more characters" in final["html"]  # the message says it was trimmed
    [link] = final["files"]
    assert link["name"] == "output.txt"
    prefix = "data:text/plain;charset=utf-8;base64,"
    assert link["href"].startswith(prefix)  # carried in this visitor's stream: no URL anyone else could request
    whole = base64.b64decode(link["href"][len(prefix):]).decode()
    assert whole == "".join(f"line {n}\n" for n in range(400)) and link["size"] == len(whole)
    [job] = started
    for path in (f"/api/v1/jobs/{job.job_id}", f"/api/v1/jobs/{job.job_id}/images/0"):  # nor from the server
        assert other.get(path).status_code in (401, 403) and "line 399" not in other.get(path).text
    for message in send(other, {"text": "/run for n in range(400): print('line', n)"}):
        assert "line 399" not in message["html"] + str(message["files"])  # not turned on for them: nothing ran
