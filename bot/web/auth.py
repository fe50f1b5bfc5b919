"""Who may call the HTTP API and scrape /metrics: a bearer token when one is configured, else loopback only."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import HTTPException, Request
from pydantic import SecretStr


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _client_is_loopback(request: Request) -> bool:
    return is_loopback(request.client.host if request.client else None)


def _require_bearer(request: Request, token: SecretStr) -> None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


async def require_api_access(request: Request) -> None:
    """FastAPI dependency: 401 without the right bearer token; 403 for remote clients when no token is set.

    Async although it never awaits: FastAPI runs a plain `def` dependency in its thread pool, two thread hops
    per API request for a few microseconds of work."""
    token = request.app.state.runtime.settings.api_token
    if token is None:
        if not _client_is_loopback(request):
            raise HTTPException(403, "the API answers only loopback clients until TORCHTUTOR_API_TOKEN is set")
        return
    _require_bearer(request, token)


async def require_metrics_access(request: Request) -> None:
    """Loopback clients may scrape; others need TORCHTUTOR_METRICS_TOKEN as a bearer token, or METRICS_PUBLIC."""
    settings = request.app.state.runtime.settings
    if settings.metrics_public or _client_is_loopback(request):
        return
    if settings.metrics_token is None:
        raise HTTPException(403, "/metrics answers only loopback clients until TORCHTUTOR_METRICS_TOKEN is set "
                                 "(or TORCHTUTOR_METRICS_PUBLIC=true on a private network)")
    _require_bearer(request, settings.metrics_token)
