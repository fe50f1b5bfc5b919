"""How a `/run` job's final message reads: what the snippet printed (trimmed to fit a chat message, the whole
text attached as output.txt), the last line of its exception, why the sandbox stopped it, the device and time
used, and its figures."""

from __future__ import annotations

from typing import Any

from bot.core.conversation import Image, Reply
from bot.core.text import chat_escape
from workers.jobs import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT, JobResult

OUTPUT_LIMIT = 1400  # characters of stdout shown; stderr gets what is left of a chat message
STDERR_LIMIT = 600
OUTPUT_FILE = "output.txt"
_HEADLINES = {"ok": "✅ **Finished**", "error": "❌ **Error**", "timed_out": "⏱️ **Stopped**",
              "cpu_limit": "⏱️ **Stopped**", "memory_limit": "🧱 **Stopped**", "output_limit": "📜 **Stopped**",
              "killed": "💥 **Stopped**"}
_JOB_HEADLINES = {FAILED: "❌ **Not run**", TIMED_OUT: "⏱️ **Timed out**", CANCELLED: "🚫 **Cancelled**"}


def render_run_result(first: Reply, result: JobResult) -> Reply:
    """The final edit of a run's message; no buttons."""
    if result.status != SUCCEEDED:
        body = f"{_JOB_HEADLINES.get(result.status, result.status)}: {result.error or 'no reason'}"
        return first.edit(text=body, buttons=(), kind="job_result")
    metrics = result.metrics
    outcome = str(metrics.get("outcome") or "ok")
    lines = [_headline(outcome, metrics)]
    stdout, stderr = result.text, str(metrics.get("stderr") or "")
    if stdout:
        lines.append(_block("Output", stdout, OUTPUT_LIMIT, keep="head"))
    if stderr and outcome != "ok" or stderr.strip() and not stdout:
        lines.append(_block("Errors", stderr, STDERR_LIMIT, keep="tail"))
    if not stdout and not stderr:
        lines.append("_It printed nothing._")
    fields = (("Device", str(metrics.get("device_name") or result.device or "?")),
              ("Time", f"{float(metrics.get('seconds') or 0):.2f} s"),
              ("Code", f"sha256 {str(metrics.get('code_sha256') or '')[:12]}"))
    images = tuple(Image(png, filename=f"figure-{n + 1}.png") for n, png in enumerate(result.images))
    if len(stdout) > OUTPUT_LIMIT or len(stderr) > STDERR_LIMIT:  # the whole text, as a file next to the figures
        full = stdout + (f"\n--- stderr ---\n{stderr}" if stderr else "")
        images += (Image(full.encode("utf-8"), filename=OUTPUT_FILE),)
    return first.edit(text="\n".join(lines), fields=fields, images=images, buttons=(), kind="job_result")


def _headline(outcome: str, metrics: dict[str, Any]) -> str:
    headline = _HEADLINES.get(outcome, f"**{outcome}**")
    if outcome == "ok":
        return headline
    why = str(metrics.get("error") if outcome == "error" else metrics.get("reason") or "")
    return f"{headline}: {chat_escape(_one_line(why))}" if why else headline


def _block(title: str, text: str, limit: int, *, keep: str) -> str:
    """`text` as a code block, cut to `limit` characters at the head or the tail, saying so."""
    shown, cut = text, ""
    if len(text) > limit:  # cut at a line boundary when there is one
        if keep == "head":
            shown = text[:limit]
            shown = shown[:shown.rfind("\n") + 1] or shown
        else:
            shown = text[-limit:]
            shown = shown[shown.find("\n") + 1:] or shown
        lines = text.count("\n") - shown.count("\n")
        cut = f"\n_… {len(text) - len(shown)} more characters ({lines} lines) not shown._"
    shown = chat_escape(shown).replace("```", "`\u200b``")  # cannot close the block early
    return f"**{title}**\n```\n{shown.rstrip(chr(10))}\n```{cut}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
