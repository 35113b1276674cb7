"""Istio (docs/operations.md "Istio"): JWT at the mesh, mTLS only, and the routes players use.

Routing and authorization are checked by evaluating the manifests the way Istio does (first
matching route; ALLOW if any rule matches), so the tests read as requests and their outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.ops.manifests import (
    Manifest,
    config_map,
    find,
    find_all,
    is_istio,
    manifests,
    route_for,
    seconds,
)

SERVICE_HOST = "websocket-server.websocket.svc.cluster.local"
GATEWAY_NAMESPACE = "istio-system"


def server_labels() -> dict[str, str]:
    return find("Deployment", "websocket-server")["spec"]["template"]["metadata"]["labels"]


# --- Routing -----------------------------------------------------------------------------------


def port_for(path: str) -> int:
    (destination,) = route_for(path)["route"]
    assert destination["destination"]["host"] == SERVICE_HOST
    return destination["destination"]["port"]["number"]


@pytest.mark.parametrize("path", ["/", "/ws", "/ws/"])
def test_game_socket_routes_to_the_socket_port(path: str) -> None:
    assert port_for(path) == int(config_map()["SERVER_PORT"])


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/health/live",
        "/health/ready",
        "/rooms",
        "/chat/history",
        "/moderation/kick",
        "/api/token/",
        "/api/schema/",
        "/api/docs/",
        "/protocol/schema.json",
        "/protocol/asyncapi.yaml",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "/play/",
        "/favicon.ico",
    ],
)
def test_http_api_routes_to_the_http_port(path: str) -> None:
    assert port_for(path) == int(config_map()["HTTP_PORT"])


def test_socket_route_has_no_timeout() -> None:
    # Istio has no route timeout unless one is set, and it rejects `timeout: 0s`; any value
    # here would close every game socket after that long.
    assert "timeout" not in route_for("/ws/")


def test_virtual_service_serves_the_gateway_hosts_the_server_allows() -> None:
    service = find("VirtualService", "websocket-server")
    gateway = find("Gateway", "websocket-gateway")
    assert service["spec"]["gateways"] == [
        f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}"
    ]
    gateway_hosts = {host for server in gateway["spec"]["servers"] for host in server["hosts"]}
    allowed_hosts = config_map()["ALLOWED_HOSTS"].split(",")
    origins = config_map()["ALLOWED_ORIGINS"].split(",")
    for host in service["spec"]["hosts"]:
        assert host in gateway_hosts
        assert host in allowed_hosts, f"{host} missing from ALLOWED_HOSTS"
        assert f"https://{host}" in origins, f"https://{host} missing from ALLOWED_ORIGINS"


def test_gateway_terminates_tls_and_redirects_plain_http() -> None:
    gateway = find("Gateway", "websocket-gateway")
    servers = {server["port"]["number"]: server for server in gateway["spec"]["servers"]}
    assert servers[443]["port"]["protocol"] == "HTTPS"
    assert servers[443]["tls"]["mode"] == "SIMPLE"
    assert servers[443]["tls"]["credentialName"]
    assert servers[80]["tls"]["httpsRedirect"] is True


def test_destination_rule_keeps_sockets_on_mutual_tls_for_an_hour_idle() -> None:
    rule = find("DestinationRule", "websocket-server")
    assert rule["spec"]["host"] == SERVICE_HOST
    policy = rule["spec"]["trafficPolicy"]
    assert policy["tls"]["mode"] == "ISTIO_MUTUAL"
    http = policy["connectionPool"]["http"]
    assert seconds(http["idleTimeout"]) >= 3600
    assert http["h2UpgradePolicy"] == "DO_NOT_UPGRADE"
    assert policy["outlierDetection"]["consecutive5xxErrors"] > 0


# --- mTLS and JWT ------------------------------------------------------------------------------


def test_namespace_accepts_mutual_tls_only() -> None:
    (peer,) = find_all("PeerAuthentication")
    assert "selector" not in peer["spec"]  # the whole namespace
    assert peer["spec"]["mtls"]["mode"] == "STRICT"


def test_mesh_validates_tokens_from_the_servers_issuer() -> None:
    authn = find("RequestAuthentication", "websocket-server-jwt")
    assert authn["spec"]["selector"]["matchLabels"].items() <= server_labels().items()
    (rule,) = authn["spec"]["jwtRules"]
    issuer = config_map()["JWT_ISSUER"]
    assert rule["issuer"] == issuer
    jwks = urlsplit(rule["jwksUri"])
    assert jwks.scheme == "https"
    assert jwks.netloc == urlsplit(issuer).netloc
    assert rule["forwardOriginalToken"] is True  # the server reads the player from it
    # Browsers cannot set headers on a WebSocket: the token also travels in the query string.
    assert "token" in rule["fromParams"]
    assert {"name": "Authorization", "prefix": "Bearer "} in rule["fromHeaders"]
    # ... and in the subprotocol carrier, as the JS client and the /play/ page send it.
    assert {"name": "Sec-WebSocket-Protocol", "prefix": "bearer, "} in rule["fromHeaders"]


# --- Authorization -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    method: str = "GET"
    jwt: bool = False  # a token RequestAuthentication validated
    namespace: str = GATEWAY_NAMESPACE  # the caller's namespace (mTLS identity)
    principal: str = f"cluster.local/ns/{GATEWAY_NAMESPACE}/sa/istio-ingressgateway"
    port: int = 8080


def _path_matches(pattern: str, path: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return path.endswith(pattern[1:])
    return path == pattern


def _source_matches(source: Manifest, request: Request) -> bool:
    if "requestPrincipals" in source and not request.jwt:
        return False
    if "namespaces" in source and request.namespace not in source["namespaces"]:
        return False
    return not ("principals" in source and request.principal not in source["principals"])


def _operation_matches(operation: Manifest, request: Request) -> bool:
    if "methods" in operation and request.method not in operation["methods"]:
        return False
    if "ports" in operation and str(request.port) not in operation["ports"]:
        return False
    return not (
        "paths" in operation
        and not any(_path_matches(p, request.path.split("?")[0]) for p in operation["paths"])
    )


def allowed(request: Request, labels: dict[str, str] | None = None) -> bool:
    """Istio's ALLOW semantics for the workload with these labels (the server by default)."""
    labels = server_labels() if labels is None else labels
    policies = [
        policy
        for policy in find_all("AuthorizationPolicy")
        if policy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert policies, "no AuthorizationPolicy selects this workload"
    for policy in policies:
        assert policy["spec"]["action"] == "ALLOW"
        for rule in policy["spec"]["rules"]:
            sources = [item["source"] for item in rule.get("from", [])]
            operations = [item["operation"] for item in rule.get("to", [])]
            if sources and not any(_source_matches(s, request) for s in sources):
                continue
            if operations and not any(_operation_matches(o, request) for o in operations):
                continue
            return True
    return False


@pytest.mark.parametrize("path", ["/", "/ws", "/ws/", "/ws/?token=abc"])
def test_game_socket_requires_a_valid_jwt(path: str) -> None:
    assert not allowed(Request(path))
    assert allowed(Request(path, jwt=True))


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready"])
def test_health_is_open_without_a_token(path: str) -> None:
    assert allowed(Request(path, port=3001))


def test_the_token_endpoint_is_public() -> None:
    assert allowed(Request("/api/token/", method="POST", port=3001))


@pytest.mark.parametrize("path", ["/rooms", "/moderation/kick", "/moderation/close-room"])
def test_room_list_and_moderation_require_a_valid_jwt(path: str) -> None:
    # ROOMS_LIST_ACCESS=authenticated in the ConfigMap; the moderation API checks the user too.
    assert config_map()["ROOMS_LIST_ACCESS"] == "authenticated"
    assert not allowed(Request(path, method="POST", port=3001))
    assert allowed(Request(path, method="POST", jwt=True, port=3001))


@pytest.mark.parametrize(
    "path",
    [
        "/api/schema/",
        "/api/docs/",
        "/protocol/schema.json",
        "/protocol/asyncapi.yaml",
        "/static/x/swagger-ui.css",
    ],
)
def test_the_published_contracts_are_public_and_read_only(path: str) -> None:
    assert allowed(Request(path, port=3001))
    assert not allowed(Request(path, method="POST", port=3001))


@pytest.mark.parametrize("path", ["/play/", "/favicon.ico", "/static/play/play.js"])
def test_the_demo_page_is_public_and_read_only(path: str) -> None:
    assert allowed(Request(path, port=3001))
    assert not allowed(Request(path, method="POST", port=3001))


def test_chat_history_requires_a_valid_jwt() -> None:
    assert not allowed(Request("/chat/history", port=3001))
    assert allowed(Request("/chat/history", jwt=True, port=3001))


def test_metrics_are_scraped_only_from_inside_the_cluster() -> None:
    assert not allowed(Request("/metrics", port=3001))
    assert not allowed(Request("/metrics", jwt=True, port=3001))
    assert allowed(Request("/metrics", namespace="monitoring", port=3001))
    assert allowed(Request("/metrics", namespace="websocket", port=3001))


def test_admin_is_not_reachable_through_the_gateway() -> None:
    assert not allowed(Request("/admin/"))
    assert not allowed(Request("/admin/", jwt=True))


def test_only_the_server_reaches_the_datastores() -> None:
    mongo = find("StatefulSet", "mongo")["spec"]["template"]["metadata"]["labels"]
    server = Request(
        "/",
        namespace="websocket",
        port=27017,
        principal="cluster.local/ns/websocket/sa/websocket-server",
    )
    stranger = Request(
        "/", namespace="websocket", port=27017, principal="cluster.local/ns/websocket/sa/default"
    )
    assert allowed(server, labels=mongo)
    assert not allowed(stranger, labels=mongo)


def test_istio_resources_use_the_v1_apis() -> None:
    versions = {doc["kind"]: doc["apiVersion"] for doc in manifests() if is_istio(doc)}
    assert versions == {
        "Gateway": "networking.istio.io/v1",
        "VirtualService": "networking.istio.io/v1",
        "DestinationRule": "networking.istio.io/v1",
        "PeerAuthentication": "security.istio.io/v1",
        "RequestAuthentication": "security.istio.io/v1",
        "AuthorizationPolicy": "security.istio.io/v1",
    }
