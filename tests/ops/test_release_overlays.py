"""The release overlays (k8s/overlays/canary, k8s/overlays/blue-green; docs/operations.md
"Releasing a new version"), as kustomize builds them: each validates, runs the base's server in
two copies that differ only in their track, and routes requests the way the strategy says.

Routes are evaluated the way Istio does (the first http route whose match takes the request's
path and headers), so the tests read as requests and where they land.
"""

from __future__ import annotations

from functools import cache

import kubernetes_validate
import pytest

from tests.ops.manifests import (
    BLUE_GREEN_OVERLAY,
    CANARY_OVERLAY,
    Manifest,
    build,
    env_provided,
    find,
    find_all,
    identity,
    is_istio,
    manifests,
    pod_spec,
    production_environment,
    route_for,
    variables_read_by_settings,
)

KUBERNETES_VERSION = "1.30"
SERVICE_HOST = "websocket-server.websocket.svc.cluster.local"
PIN_HEADER = "x-signight-track"
SOCKET_PATHS = ["/", "/ws", "/ws/"]
API_PATHS = ["/rooms", "/chat/history", "/moderation/kick", "/api/token/", "/play/", "/health"]
TRACKS = {
    "canary": {"websocket-server": "stable", "websocket-server-canary": "canary"},
    "blue-green": {"websocket-server-blue": "blue", "websocket-server-green": "green"},
}


@cache
def _built(overlay: str) -> tuple[Manifest, ...]:
    return tuple(build({"canary": CANARY_OVERLAY, "blue-green": BLUE_GREEN_OVERLAY}[overlay]))


def built(overlay: str) -> list[Manifest]:
    return list(_built(overlay))


def servers(overlay: str) -> list[Manifest]:
    return [
        doc
        for doc in find_all("Deployment", built(overlay))
        if doc["spec"]["template"]["metadata"]["labels"].get("app") == "websocket-server"
    ]


def pod_labels(deployment: Manifest) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


# --- Routing as Istio evaluates it --------------------------------------------------------------


def route(overlay: str, path: str, headers: dict[str, str] | None = None) -> Manifest:
    return route_for(path, headers, built(overlay))


def split(overlay: str, path: str, headers: dict[str, str] | None = None) -> dict[str, int]:
    """{subset: weight} of the request's route; a single destination has all of it."""
    destinations = route(overlay, path, headers)["route"]
    for entry in destinations:
        assert entry["destination"]["host"] == SERVICE_HOST
    if len(destinations) == 1:
        return {destinations[0]["destination"]["subset"]: 100}
    return {entry["destination"]["subset"]: entry["weight"] for entry in destinations}


def base_port_for(path: str) -> int:
    """The port the base routes this path to (tests/ops/test_istio.py checks the base)."""
    return route_for(path)["route"][0]["destination"]["port"]["number"]


def ports(overlay: str, path: str, headers: dict[str, str] | None = None) -> set[int]:
    return {
        entry["destination"]["port"]["number"] for entry in route(overlay, path, headers)["route"]
    }


# --- Both overlays ------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", list(TRACKS))
def test_core_kinds_match_the_kubernetes_schemas(overlay: str) -> None:
    failures = []
    for doc in built(overlay):
        if is_istio(doc):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("overlay", list(TRACKS))
def test_two_copies_of_the_bases_server_that_differ_only_in_their_track(overlay: str) -> None:
    base = find("Deployment", "websocket-server")
    copies = servers(overlay)
    assert {doc["metadata"]["name"]: pod_labels(doc)["track"] for doc in copies} == TRACKS[overlay]
    for doc in copies:
        assert pod_spec(doc) == pod_spec(base), f"{doc['metadata']['name']} drifted from the base"
        labels = dict(pod_labels(doc))
        del labels["track"]
        assert labels == pod_labels(base)


@pytest.mark.parametrize("overlay", list(TRACKS))
def test_the_rest_of_the_base_is_applied_unchanged(overlay: str) -> None:
    changed = {
        ("VirtualService", "websocket", "websocket-server"),
        ("DestinationRule", "websocket", "websocket-server"),
    }
    built_by_identity = {identity(doc): doc for doc in built(overlay)}
    for doc in manifests():
        key = identity(doc)
        if doc["kind"] in ("Deployment", "HorizontalPodAutoscaler") and "websocket-server" in key:
            continue
        if key not in changed:
            assert built_by_identity[key] == doc, f"{key} differs from the base"


@pytest.mark.parametrize("overlay", list(TRACKS))
def test_each_server_gets_exactly_the_variables_the_settings_read(overlay: str) -> None:
    docs = built(overlay)
    read = variables_read_by_settings(production_environment(docs))
    for doc in servers(overlay):
        assert set(env_provided(doc, docs)) == read, doc["metadata"]["name"]
    job = find("Job", "websocket-migrate", docs)
    assert set(env_provided(job, docs)) == read


@pytest.mark.parametrize("overlay", list(TRACKS))
def test_each_subset_selects_the_pods_of_exactly_one_track(overlay: str) -> None:
    rule = find("DestinationRule", "websocket-server", built(overlay))
    assert "subsets" not in find("DestinationRule", "websocket-server")["spec"]
    subsets = {subset["name"]: subset for subset in rule["spec"]["subsets"]}
    assert set(subsets) == set(TRACKS[overlay].values())
    for name, subset in subsets.items():
        # A subset's own traffic policy would replace the base's (mTLS, keepalive, idle hour).
        assert "trafficPolicy" not in subset
        selected = [
            doc["metadata"]["name"]
            for doc in servers(overlay)
            if subset["labels"].items() <= pod_labels(doc).items()
        ]
        assert len(selected) == 1 and TRACKS[overlay][selected[0]] == name, (name, selected)


@pytest.mark.parametrize("overlay", list(TRACKS))
@pytest.mark.parametrize("path", SOCKET_PATHS + API_PATHS)
def test_every_path_goes_to_the_port_the_base_sends_it_to(overlay: str, path: str) -> None:
    assert ports(overlay, path) == {base_port_for(path)}
    assert ports(overlay, path, {PIN_HEADER: "canary"}) == {base_port_for(path)}


@pytest.mark.parametrize("overlay", list(TRACKS))
def test_the_socket_routes_have_no_timeout(overlay: str) -> None:
    for headers in ({}, {PIN_HEADER: "canary"}):
        assert "timeout" not in route(overlay, "/ws/", headers)


@pytest.mark.parametrize("overlay", list(TRACKS))
def test_every_weighted_route_sums_to_100(overlay: str) -> None:
    service = find("VirtualService", "websocket-server", built(overlay))
    for route in service["spec"]["http"]:
        if len(route["route"]) > 1:
            assert sum(entry["weight"] for entry in route["route"]) == 100, route["name"]


# --- Canary -------------------------------------------------------------------------------------


def test_the_canary_is_one_pod_beside_the_autoscaled_stable_track() -> None:
    docs = built("canary")
    canary = find("Deployment", "websocket-server-canary", docs)
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["selector"]["matchLabels"] == {
        "app": "websocket-server",
        "track": "canary",
    }
    (autoscaler,) = find_all("HorizontalPodAutoscaler", docs)
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "websocket-server"
    # The stable Deployment's selector is the base's: a selector cannot change in place.
    stable = find("Deployment", "websocket-server", docs)
    assert stable["spec"]["selector"] == find("Deployment", "websocket-server")["spec"]["selector"]


@pytest.mark.parametrize("path", SOCKET_PATHS + API_PATHS[:-1])
def test_new_connections_split_between_stable_and_canary(path: str) -> None:
    assert split("canary", path) == {"stable": 90, "canary": 10}


@pytest.mark.parametrize("path", SOCKET_PATHS + API_PATHS[:-1])
def test_the_header_pins_a_tester_to_the_canary(path: str) -> None:
    assert split("canary", path, {PIN_HEADER: "canary"}) == {"canary": 100}
    assert split("canary", path, {PIN_HEADER: "stable"}) == {"stable": 90, "canary": 10}


def test_the_public_health_check_answers_for_the_stable_track() -> None:
    assert split("canary", "/health") == {"stable": 100}


def test_the_canarys_routes_take_the_bases_paths() -> None:
    def paths(route: Manifest) -> list[tuple[str, str]]:
        return [next(iter(match["uri"].items())) for match in route["match"]]

    base = {
        route["name"]: route for route in find("VirtualService", "websocket-server")["spec"]["http"]
    }
    overlay = {
        route["name"]: route
        for route in find("VirtualService", "websocket-server", built("canary"))["spec"]["http"]
    }
    for name in base:
        assert paths(overlay[name]) == paths(base[name]), name
        assert overlay[name].get("timeout") == base[name].get("timeout"), name
    assert paths(overlay["http-api-pinned"]) == paths(base["http-api"])


# --- Blue-green ---------------------------------------------------------------------------------


def test_each_colour_has_its_own_autoscaler_and_the_bases_server_is_gone() -> None:
    docs = built("blue-green")
    names = {doc["metadata"]["name"] for doc in find_all("Deployment", docs)}
    assert "websocket-server" not in names
    targets = {
        doc["metadata"]["name"]: doc["spec"]["scaleTargetRef"]["name"]
        for doc in find_all("HorizontalPodAutoscaler", docs)
    }
    assert targets == {
        "websocket-server-blue": "websocket-server-blue",
        "websocket-server-green": "websocket-server-green",
    }
    for doc in servers("blue-green"):
        track = pod_labels(doc)["track"]
        assert doc["spec"]["selector"]["matchLabels"] == {"app": "websocket-server", "track": track}
        assert "replicas" not in doc["spec"], "the autoscaler (and --switch) own the replicas"


@pytest.mark.parametrize("path", SOCKET_PATHS + API_PATHS)
@pytest.mark.parametrize("headers", [{}, {PIN_HEADER: "canary"}])
def test_every_request_goes_to_the_live_colour(path: str, headers: dict[str, str]) -> None:
    assert split("blue-green", path, headers) == {"blue": 100}


def test_both_colours_stay_behind_the_service_and_the_disruption_budget() -> None:
    docs = built("blue-green")
    for kind in ("Service", "PodDisruptionBudget"):
        doc = find(kind, "websocket-server", docs)
        selector = doc["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        for server in servers("blue-green"):
            assert selector.items() <= pod_labels(server).items(), (
                kind,
                server["metadata"]["name"],
            )
