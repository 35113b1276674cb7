"""Who may open a game socket: the page's Origin, connections per client address, and the JWT.

The consumer accepts every handshake (so a refusal can carry a close code a browser can read)
and closes at once with the code of the first rule that refuses.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from rooms.protocol import CloseCode
from signight.auth import Identity, InvalidToken, bearer_token, verify

_open_per_ip: collections.Counter[str] = collections.Counter()


class Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Admission:
    identity: Identity | None
    subprotocol: str | None  # "bearer" when the token came in Sec-WebSocket-Protocol
    client_ip: str


def _headers(scope: Mapping[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def client_ip(scope: Mapping[str, Any], headers: dict[str, str]) -> str:
    """The peer address, or the one TRUSTED_PROXY_HOPS proxies in front of us saw."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    hops = settings.TRUSTED_PROXY_HOPS
    if hops and "x-forwarded-for" in headers:
        chain = [part.strip() for part in headers["x-forwarded-for"].split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return peer


def token_from(scope: Mapping[str, Any], headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(token, subprotocol to select) from the Authorization header, the subprotocol pair
    `bearer, <token>`, or ?token= / ?access_token= (the weakest: URLs end up in logs; ours
    redact them)."""
    token = bearer_token(headers.get("authorization", ""))
    if token is not None:
        return token, None
    offered = [p.strip() for p in scope.get("subprotocols", [])]
    if "bearer" in offered:
        index = offered.index("bearer")
        if index + 1 < len(offered):
            return offered[index + 1], "bearer"
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for name in ("token", "access_token"):  # the mesh reads both names too
        if query.get(name):
            return query[name][0], None
    return None, None


def offered_bearer(scope: Mapping[str, Any]) -> str | None:
    """The subprotocol to select when refusing: "bearer" if offered (a browser drops a socket
    whose server selects none of the protocols it offered)."""
    return "bearer" if "bearer" in scope.get("subprotocols", []) else None


def same_origin(origin: str, host: str | None) -> bool:
    """A page this server served itself (the /play/ demo, issue 14): its Origin is
    http(s)://<the handshake's own Host>, for a Host that ALLOWED_HOSTS accepts (a page that
    rebinds its own DNS name to this server names a host of its own, which that list refuses)."""
    scheme, sep, authority = origin.rstrip("/").partition("://")
    if not host or not sep or scheme.lower() not in ("http", "https"):
        return False
    domain, _ = split_domain_port(host)
    return authority.lower() == host.lower() and validate_host(domain, settings.ALLOWED_HOSTS)


def origin_allowed(origin: str | None, host: str | None = None) -> bool:
    allowed = settings.ALLOWED_ORIGINS
    if origin is None or "*" in allowed or origin.rstrip("/") in allowed:
        return True
    return same_origin(origin, host)


def admit(scope: Mapping[str, Any]) -> Admission:
    """Decide on a new socket; raises Refused. Call `release` when an admitted socket ends."""
    headers = _headers(scope)
    origin = headers.get("origin")
    if not origin_allowed(origin, headers.get("host")):
        raise Refused(CloseCode.FORBIDDEN_ORIGIN, "origin not allowed")
    token, subprotocol = token_from(scope, headers)
    identity = None
    if token is not None:
        try:
            identity = verify(token)
        except InvalidToken as exc:
            raise Refused(CloseCode.UNAUTHORIZED, f"invalid token: {exc}") from None
    elif settings.WS_AUTH_REQUIRED:
        raise Refused(CloseCode.UNAUTHORIZED, "a token is required")
    ip = client_ip(scope, headers)
    cap = settings.WS_MAX_CONNECTIONS_PER_IP
    if cap and _open_per_ip[ip] >= cap:
        raise Refused(CloseCode.TOO_MANY_CONNECTIONS, "too many connections from this address")
    _open_per_ip[ip] += 1
    return Admission(identity=identity, subprotocol=subprotocol, client_ip=ip)


def release(admission: Admission) -> None:
    _open_per_ip[admission.client_ip] -= 1
    if _open_per_ip[admission.client_ip] <= 0:
        del _open_per_ip[admission.client_ip]
