"""The `kind` label of a failed chat-platform API call, shared by every adapter's delivery."""

from __future__ import annotations


def api_error_kind(status: int | None) -> str:
    """From the call's HTTP status: `rate_limited` (429), `http_4xx`, `http_5xx`, `rejected` for a 200 that
    failed all the same (Slack's `ok: false`), `other` when there was no response."""
    if status == 429:
        return "rate_limited"
    if status == 200:
        return "rejected"
    if status is not None and 400 <= status < 500:
        return "http_4xx"
    if status is not None and status >= 500:
        return "http_5xx"
    return "other"
