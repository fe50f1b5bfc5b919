"""Who may call the HTTP API: a bearer token when one is configured, else loopback clients only."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import HTTPException, Request


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def require_api_access(request: Request) -> None:
    """FastAPI dependency: 401 without the right bearer token; 403 for remote clients when no token is set."""
    token = request.app.state.runtime.settings.api_token
    if token is None:
        if not is_loopback(request.client.host if request.client else None):
            raise HTTPException(403, "the API answers only loopback clients until TORCHTUTOR_API_TOKEN is set")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
