"""The Redis Sentinel overlay (k8s/overlays/redis-sentinel/; docs/operations.md "Redis high
availability (Sentinel)"): it builds and validates, and the server, the sentinels and the Redis
pods agree on one master name and on where each of them lives.

The scripts' behaviour (bootstrap, failover, a pod rejoining as a replica) needs a cluster; what
devtools can run for real is tests/test_sentinel_services.py.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from tests.ops.manifests import (
    NAMESPACE,
    SENTINEL_OVERLAY,
    Manifest,
    assert_runs_unprivileged,
    build,
    config_map,
    container,
    env_provided,
    find,
    identity,
    is_istio,
    manifests,
    pod_spec,
    production_environment,
    variables_read_by_settings,
)

KUBERNETES_VERSION = "1.30"
SENTINEL_PORT = 26379
REDIS_PORT = 6379
ADDED = {
    ("ConfigMap", NAMESPACE, "redis-sentinel"),
    ("Service", NAMESPACE, "redis-headless"),
    ("StatefulSet", NAMESPACE, "redis"),
    ("PodDisruptionBudget", NAMESPACE, "redis"),
}
REMOVED = {("Deployment", NAMESPACE, "redis"), ("Service", NAMESPACE, "redis")}
PATCHED = {
    ("ConfigMap", NAMESPACE, "websocket-config"),
    ("NetworkPolicy", NAMESPACE, "datastores"),
    ("AuthorizationPolicy", NAMESPACE, "datastores"),
}


@cache
def _overlay() -> tuple[Manifest, ...]:
    return tuple(build(SENTINEL_OVERLAY))


def overlay() -> list[Manifest]:
    return list(_overlay())


def redis_set() -> Manifest:
    return find("StatefulSet", "redis", overlay())


def pod_names() -> list[str]:
    """The members' stable names, through the headless Service."""
    spec = redis_set()["spec"]
    domain = f"{spec['serviceName']}.{NAMESPACE}.svc.cluster.local"
    return [f"redis-{index}.{domain}" for index in range(spec["replicas"])]


def sentinel_files() -> dict[str, str]:
    return find("ConfigMap", "redis-sentinel", overlay())["data"]


def sentinel_directives() -> list[list[str]]:
    lines = sentinel_files()["sentinel.conf"].splitlines()
    return [line.split() for line in lines if line.strip() and not line.startswith("#")]


def monitor() -> tuple[str, str, int, int]:
    """`sentinel monitor <master-name> <host> <port> <quorum>`: the one master watched."""
    (line,) = [d for d in sentinel_directives() if d[:2] == ["sentinel", "monitor"]]
    _, _, name, host, port, quorum = line
    return name, host, int(port), int(quorum)


# --- It builds -----------------------------------------------------------------------------------


def test_overlay_replaces_the_single_redis_and_keeps_the_rest_of_the_base() -> None:
    base = {identity(doc): doc for doc in manifests()}
    built = {identity(doc): doc for doc in overlay()}
    assert base.keys() >= REMOVED
    assert built.keys() == (base.keys() - REMOVED) | ADDED
    changed = sorted(key for key in base.keys() & built.keys() if base[key] != built[key])
    assert changed == sorted(PATCHED)


def test_overlay_core_kinds_match_the_kubernetes_schemas() -> None:
    failures = []
    for doc in overlay():
        if is_istio(doc):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
    assert not failures, "\n".join(failures)


# --- One master name, one set of names ---------------------------------------------------------


def test_server_config_names_every_sentinel_and_the_master_they_watch() -> None:
    cm = config_map(overlay())
    assert cm["REDIS_SENTINELS"].split(",") == [f"{pod}:{SENTINEL_PORT}" for pod in pod_names()]
    name, _, _, _ = monitor()
    assert cm["REDIS_SENTINEL_MASTER"] == name
    # Read and checked by the settings, unused while REDIS_SENTINELS is set: still a real name.
    redis_url = urlsplit(cm["REDIS_URL"])
    assert (redis_url.hostname, redis_url.port) == (pod_names()[0], REDIS_PORT)


def test_sentinel_config_watches_pod_0_with_a_majority_quorum() -> None:
    name, host, port, quorum = monitor()
    assert (host, port) == (pod_names()[0], REDIS_PORT)
    assert quorum == redis_set()["spec"]["replicas"] // 2 + 1
    # Every per-master option names the same master, and pods are known by name, not address.
    per_master = [d for d in sentinel_directives() if d[0] == "sentinel" and len(d) == 4]
    assert {d[1] for d in per_master} >= {"down-after-milliseconds", "failover-timeout"}
    assert {d[2] for d in per_master} == {name}
    assert ["sentinel", "resolve-hostnames", "yes"] in sentinel_directives()
    assert ["sentinel", "announce-hostnames", "yes"] in sentinel_directives()
    assert ["port", str(SENTINEL_PORT)] in sentinel_directives()


def test_scripts_ask_the_pods_of_this_statefulset() -> None:
    common = sentinel_files()["common.sh"]
    spec = redis_set()["spec"]
    (domain,) = re.findall(r"^DOMAIN=(\S+)$", common, re.MULTILINE)
    assert domain == f"{spec['serviceName']}.{NAMESPACE}.svc.cluster.local"
    (indexes,) = re.findall(r"for i in ([\d ]+); do", common)
    assert [int(i) for i in indexes.split()] == list(range(spec["replicas"]))
    assert f'host="{redis_set()["metadata"]["name"]}-$i.$DOMAIN"' in common
    # The master name comes from sentinel.conf itself: no second copy to drift.
    assert "/config/sentinel.conf" in common
    assert "--replica-announce-ip" in sentinel_files()["redis.sh"]
    assert "announce-ip $SELF" in sentinel_files()["sentinel.sh"]


@pytest.mark.parametrize("script", ["common.sh", "redis.sh", "sentinel.sh"])
def test_scripts_are_valid_posix_shell(script: str) -> None:
    # The image's shell is busybox ash; `sh -n` here (dash or bash) checks POSIX syntax.
    checked = subprocess.run(
        ["sh", "-n"], input=sentinel_files()[script], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


# --- The StatefulSet -----------------------------------------------------------------------------


def test_each_of_three_pods_runs_redis_and_a_sentinel() -> None:
    statefulset = redis_set()
    assert statefulset["spec"]["replicas"] == 3
    spec = pod_spec(statefulset)
    assert [c["name"] for c in spec["containers"]] == ["redis", "sentinel"]
    ports = {c["name"]: [p["containerPort"] for p in c["ports"]] for c in spec["containers"]}
    assert ports == {"redis": [REDIS_PORT], "sentinel": [SENTINEL_PORT]}
    for each in spec["containers"]:
        assert each["image"].startswith("redis:7"), each["name"]
        assert each["command"] == ["sh", f"/config/{each['name']}.sh"]
        pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
        assert {"name": "POD_NAME", "valueFrom": pod_name} in each["env"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "redis-sentinel"


def test_headless_service_names_every_member_and_both_ports() -> None:
    statefulset = redis_set()
    service = find("Service", statefulset["spec"]["serviceName"], overlay())
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {
        "tcp-redis": (REDIS_PORT, "redis"),
        "tcp-sentinel": (SENTINEL_PORT, "sentinel"),
    }


def test_sentinel_pods_are_hardened_like_the_base_redis() -> None:
    statefulset = redis_set()
    assert_runs_unprivileged(statefulset)
    base = find("Deployment", "redis")
    for key in ("securityContext", "serviceAccountName", "automountServiceAccountToken"):
        assert pod_spec(statefulset)[key] == pod_spec(base)[key], key
    for each in pod_spec(statefulset)["containers"]:
        assert each["securityContext"] == container(base)["securityContext"], each["name"]
        mounts = {m["mountPath"]: m for m in each["volumeMounts"]}
        assert "/data" in mounts, f"{each['name']} needs a writable /data (emptyDir)"
        assert mounts["/config"]["readOnly"] is True


def test_every_container_has_probes_and_bounds() -> None:
    for each in pod_spec(redis_set())["containers"]:
        port = [] if each["name"] == "redis" else ["-p", str(SENTINEL_PORT)]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert each[probe]["exec"]["command"] == ["redis-cli", *port, "ping"], each["name"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= each["resources"][bound].keys(), each["name"]


def test_disruption_budget_keeps_the_quorum() -> None:
    pdb = find("PodDisruptionBudget", "redis", overlay())
    labels = redis_set()["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    _, _, _, quorum = monitor()
    assert redis_set()["spec"]["replicas"] - pdb["spec"]["maxUnavailable"] >= quorum


# --- Who may reach the sentinels -----------------------------------------------------------------


def test_network_policy_lets_the_server_and_the_members_reach_26379() -> None:
    policy = find("NetworkPolicy", "datastores", overlay())
    labels = redis_set()["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    (rule,) = policy["spec"]["ingress"]
    assert {"port": SENTINEL_PORT, "protocol": "TCP"} in rule["ports"]
    (allowed,) = rule["from"][0]["podSelector"]["matchExpressions"]
    assert {"websocket-server", labels["app"]} <= set(allowed["values"])


def test_mesh_policy_lets_the_server_and_the_members_reach_26379() -> None:
    policy = find("AuthorizationPolicy", "datastores", overlay())
    labels = redis_set()["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (rule,) = policy["spec"]["rules"]
    assert str(SENTINEL_PORT) in rule["to"][0]["operation"]["ports"]
    principals = rule["from"][0]["source"]["principals"]
    account = pod_spec(redis_set())["serviceAccountName"]
    assert f"cluster.local/ns/{NAMESPACE}/sa/{account}" in principals


# --- The server's settings -----------------------------------------------------------------------


def test_overlay_provides_exactly_the_variables_the_server_reads() -> None:
    docs = overlay()
    provided = set(env_provided(find("Deployment", "websocket-server", docs), docs))
    read = variables_read_by_settings(production_environment(docs))
    missing = sorted(read - provided)
    assert not missing, f"read by signight/settings.py but not provided by the overlay: {missing}"
    assert {"REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"} <= read
    unknown = sorted(provided - read)
    assert not unknown, f"provided by the overlay but never read: {unknown}"
