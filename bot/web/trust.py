"""Trust boundaries of the web app: which peers' forwarded headers are believed, and which Host names it answers.

Forwarded headers (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Proto`) are used only when the connection comes
from an address in TORCHTUTOR_TRUSTED_PROXIES (none by default): otherwise anyone could claim to be 127.0.0.1
and pass "loopback only" checks, or spread a rate limit over made-up addresses. The client is then the nearest
address, from the right, that is not itself a trusted proxy.

A Host header outside TORCHTUTOR_ALLOWED_HOSTS is answered 400, so a DNS-rebound page cannot talk to the
loopback-only API under its own name. Localhost names are always answered to loopback peers (health checks).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from bot.config import LOCAL_HOST_NAMES, Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _in(networks: Sequence[Network], host: str | None) -> bool:
    address = _address(host) if host else None
    return address is not None and any(address in network for network in networks)


def _node(value: str) -> str:
    """A `for=` or X-Forwarded-For entry without quotes, brackets or port: `"[2001:db8::1]:443"` -> `2001:db8::1`."""
    value = value.strip().strip('"')
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def forwarded_chain(headers: dict[bytes, list[bytes]]) -> tuple[list[str], str | None]:
    """The client addresses the proxies report, nearest last, and the scheme the first proxy saw (if said)."""
    if b"forwarded" in headers:
        chain, scheme = [], None
        for element in b",".join(headers[b"forwarded"]).decode("latin-1").split(","):
            for pair in element.split(";"):
                key, _, value = pair.strip().partition("=")
                if key.lower() == "for":
                    chain.append(_node(value))
                elif key.lower() == "proto" and scheme is None:
                    scheme = value.strip().strip('"').lower()
        return chain, scheme
    chain = [_node(v) for v in b",".join(headers.get(b"x-forwarded-for", [])).decode("latin-1").split(",") if v.strip()]
    protos = b",".join(headers.get(b"x-forwarded-proto", [])).decode("latin-1").split(",")
    return chain, (protos[0].strip().lower() or None)


def host_name(value: str) -> str:
    """The name of a Host header without its port: `[::1]:8000` -> `::1`, `Example.COM.:443` -> `example.com`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def host_allowed(name: str, allowed: Sequence[str]) -> bool:
    """Whether a Host name matches the allow-list: exact names, `*.example.com` for subdomains, or `*`."""
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class TrustBoundary:
    """ASGI middleware: the client behind trusted proxies, and 400 for Host names not allowed."""

    def __init__(self, app: ASGIApp, *, proxies: Sequence[Network], hosts: Sequence[str]) -> None:
        self.app = app
        self.proxies = list(proxies)
        self.hosts = [h.lower().rstrip(".") for h in hosts]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, list[bytes]] = {}
        for key, value in scope.get("headers", ()):
            headers.setdefault(key, []).append(value)
        peer = scope.get("client")
        if peer and _in(self.proxies, peer[0]):
            scope = self._behind_proxies(scope, headers, peer)
        client = scope.get("client")
        name = host_name(headers.get(b"host", [b""])[0].decode("latin-1"))
        local = client is not None and name in LOCAL_HOST_NAMES and _is_loopback(client[0])
        if not (local or host_allowed(name, self.hosts)):
            await _bad_host(send)
            return
        await self.app(scope, receive, send)

    def _behind_proxies(self, scope: Scope, headers: dict[bytes, list[bytes]], peer: Any) -> Scope:
        chain, scheme = forwarded_chain(headers)
        client = None
        for hop in reversed(chain):
            if _address(hop) is None:
                break  # "unknown" or an obfuscated name: nothing further left is trustworthy
            client = hop
            if not _in(self.proxies, hop):
                break
        scope = dict(scope)
        if client is not None:
            scope["client"] = (client, 0)
        if scheme in ("http", "https"):
            scope["scheme"] = scheme
        return scope


def _is_loopback(host: str) -> bool:
    address = _address(host)
    return address is not None and address.is_loopback


async def _bad_host(send: Send) -> None:
    body = json.dumps({"detail": "this server does not answer to that Host name "
                                 "(the operator lists its names in TORCHTUTOR_ALLOWED_HOSTS)"}).encode()
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
