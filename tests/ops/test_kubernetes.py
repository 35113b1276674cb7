"""Kubernetes manifests (k8s/, docs/operations.md "Kubernetes"): valid, complete, and safe."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.ops.manifests import (
    BASE,
    K8S,
    NAMESPACE,
    Manifest,
    assert_runs_unprivileged,
    build,
    config_map,
    container,
    env_provided,
    find,
    find_all,
    identity,
    is_istio,
    kustomization,
    manifest_files,
    manifests,
    pod_spec,
    production_environment,
    secret,
    variables_read_by_settings,
    workloads,
)

KUBERNETES_VERSION = "1.30"
# Time the server needs after the drain to send close 1001 to every socket and remove its
# players from presence (uvicorn's timeout_graceful_shutdown in `manage.py serve`).
CLOSE_BUDGET_SECONDS = 10


def server() -> Manifest:
    return find("Deployment", "websocket-server")


def prestop_sleep_seconds(spec: Manifest) -> float:
    command = spec["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep", f"preStop should be a plain sleep, is {command}"
    return float(command[1])


# --- Files -------------------------------------------------------------------------------------


def test_every_manifest_parses_and_names_its_kind() -> None:
    for path in manifest_files():
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        assert docs, f"{path.name} holds no manifest"
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path.name


def test_kustomizations_list_every_file_of_the_base() -> None:
    listed = set()
    for directory in (BASE, BASE / "server"):
        for entry in kustomization(directory)["resources"]:
            if not (directory / entry).is_dir():
                listed.add(str((directory / entry).relative_to(BASE)))
    on_disk = {str(path.relative_to(BASE)) for path in manifest_files()}
    assert listed == on_disk, (
        f"not listed in a kustomization.yaml: {sorted(on_disk - listed)}; "
        f"listed but missing: {sorted(listed - on_disk)}"
    )


def test_k8s_applies_the_base_as_it_is() -> None:
    assert kustomization(K8S)["resources"] == ["base"]
    assert sorted(build(K8S), key=identity) == sorted(manifests(), key=identity)


def test_core_kinds_match_the_kubernetes_schemas() -> None:
    failures = []
    for doc in manifests():
        if is_istio(doc):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_everything_lives_in_the_websocket_namespace() -> None:
    namespace = find("Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"
    outside = [
        f"{doc['kind']}/{doc['metadata']['name']}"
        for doc in manifests()
        if doc["kind"] != "Namespace" and doc["metadata"].get("namespace") != NAMESPACE
    ]
    assert not outside, f"not in namespace {NAMESPACE}: {outside}"


# --- Environment -------------------------------------------------------------------------------


def test_settings_load_from_the_manifests_values() -> None:
    variables_read_by_settings(production_environment())


def test_deployment_provides_exactly_the_variables_the_server_reads() -> None:
    provided = set(env_provided(server()))
    read = variables_read_by_settings(production_environment())
    missing = sorted(read - provided)
    unknown = sorted(provided - read)
    assert not missing and not unknown, (
        f"read by signight/settings.py but not provided by k8s/: {missing}; "
        f"provided by k8s/ but never read: {unknown}"
    )


def test_migration_job_runs_with_the_servers_configuration() -> None:
    job = find("Job", "websocket-migrate")
    assert env_provided(job) == env_provided(server())
    assert container(job)["image"] == container(server())["image"]
    assert container(job)["args"][0].startswith("python manage.py migrate --noinput")


def test_secrets_stay_out_of_the_config_map() -> None:
    for name in ("DJANGO_SECRET_KEY", "JWT_SECRET", "JWT_PUBLIC_KEY", "MONGODB_URL"):
        assert name in secret(), name
        assert name not in config_map(), name


def test_secret_holds_placeholders_only() -> None:
    values = secret()
    assert values["DJANGO_SECRET_KEY"] == "REPLACE-ME"
    assert values["JWT_SECRET"] == "REPLACE-ME"
    # A placeholder key must never pass the server's own check for production keys.
    assert len(values["DJANGO_SECRET_KEY"]) < 32


def test_production_settings_are_strict() -> None:
    cm = config_map()
    assert cm["DJANGO_DEBUG"] == "0"
    assert cm["WS_AUTH_REQUIRED"] == "1"
    assert "*" not in cm["ALLOWED_HOSTS"].split(",")
    assert "*" not in cm["ALLOWED_ORIGINS"].split(",")
    assert cm["LOG_FORMAT"] == "json"
    assert cm["TRUSTED_PROXY_HOPS"] == "1"  # the Istio ingress gateway


def test_backing_service_urls_name_the_in_cluster_services() -> None:
    redis = urlsplit(config_map()["REDIS_URL"])
    assert redis.hostname.split(".")[0] == find("Service", "redis")["metadata"]["name"]
    assert redis.port == 6379

    mongo_url = urlsplit(secret()["MONGODB_URL"])
    statefulset = find("StatefulSet", "mongo")
    member = f"{statefulset['metadata']['name']}-0.{statefulset['spec']['serviceName']}"
    assert mongo_url.hostname.startswith(member + ".")
    assert "replicaSet=rs0" in mongo_url.query


def test_chat_writes_wait_for_a_majority_of_the_replica_set() -> None:
    # An acknowledged chat survives a primary failover (docs/operations.md, Sentinel section).
    assert parse_qs(urlsplit(secret()["MONGODB_URL"]).query)["w"] == ["majority"]


# --- The server Deployment ---------------------------------------------------------------------


def test_deployment_probes_health_live_and_ready_on_the_http_port() -> None:
    spec = container(server())
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    http_port = int(config_map()["HTTP_PORT"])
    expected = {
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health/live",
    }
    for probe, path in expected.items():
        get = spec[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) == http_port, probe


def test_container_ports_match_the_configured_ports_and_carry_istio_protocol_names() -> None:
    ports = {port["name"]: port["containerPort"] for port in container(server())["ports"]}
    assert ports == {
        "http-ws": int(config_map()["SERVER_PORT"]),
        "http-api": int(config_map()["HTTP_PORT"]),
    }


def test_service_exposes_both_ports_to_the_server_pods() -> None:
    service = find("Service", "websocket-server")
    labels = server()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {port["name"]: (port["port"], port["targetPort"]) for port in service["spec"]["ports"]}
    assert ports == {"http-ws": (8080, "http-ws"), "http-api": (3001, "http-api")}


def test_deployment_drains_before_kill() -> None:
    spec = pod_spec(server())
    drain = float(config_map()["SHUTDOWN_DRAIN_SECONDS"])
    pre_stop = prestop_sleep_seconds(container(server()))
    grace = spec["terminationGracePeriodSeconds"]
    assert grace > pre_stop + drain + CLOSE_BUDGET_SECONDS, (
        f"terminationGracePeriodSeconds={grace} leaves no time to close sockets after "
        f"preStop {pre_stop}s + drain {drain}s"
    )


def test_sidecar_outlives_the_drain() -> None:
    annotations = server()["spec"]["template"]["metadata"]["annotations"]
    proxy = yaml.safe_load(annotations["proxy.istio.io/config"])
    drain = float(config_map()["SHUTDOWN_DRAIN_SECONDS"])
    pre_stop = prestop_sleep_seconds(container(server()))
    sidecar_drain = float(proxy["terminationDrainDuration"].rstrip("s"))
    assert pre_stop + drain < sidecar_drain < pod_spec(server())["terminationGracePeriodSeconds"]
    assert proxy["holdApplicationUntilProxyStarts"] is True


def test_deployment_sets_requests_and_limits() -> None:
    for workload in workloads():
        resources = container(workload)["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources[bound].keys(), workload["metadata"]["name"]


def test_apply_never_resets_the_replica_count() -> None:
    # The HPA owns replicas: a `replicas:` here would scale a loaded fleet down on every apply.
    assert "replicas" not in server()["spec"]
    hpa = find("HorizontalPodAutoscaler", "websocket-server")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "websocket-server",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    assert cpu and cpu[0]["resource"]["name"] == "cpu"


def test_rollout_never_drops_below_the_current_capacity() -> None:
    rolling = server()["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0


def test_disruption_budget_covers_the_server_pods() -> None:
    pdb = find("PodDisruptionBudget", "websocket-server")
    assert pdb["apiVersion"] == "policy/v1"
    labels = server()["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_image_is_pinned_by_tag() -> None:
    for workload in workloads():
        image = container(workload)["image"]
        name, _, tag = image.rpartition(":")
        assert name and tag and "/" not in tag, f"{image} has no tag"
        assert tag != "latest", image


def test_prometheus_scrapes_metrics_on_the_http_port() -> None:
    annotations = server()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == config_map()["HTTP_PORT"]
    assert annotations["prometheus.io/path"] == "/metrics"


# --- Every pod: hardened -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "workload", workloads(), ids=lambda w: f"{w['kind']}/{w['metadata']['name']}"
)
def test_pods_run_unprivileged(workload: Manifest) -> None:
    assert_runs_unprivileged(workload)


@pytest.mark.parametrize(
    "workload", workloads(), ids=lambda w: f"{w['kind']}/{w['metadata']['name']}"
)
def test_read_only_pods_get_a_writable_tmp(workload: Manifest) -> None:
    mounts = {m["mountPath"] for c in pod_spec(workload)["containers"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts or "/data" in mounts


def test_service_accounts_exist_and_mount_no_token() -> None:
    accounts = {sa["metadata"]["name"]: sa for sa in find_all("ServiceAccount")}
    for workload in workloads():
        name = pod_spec(workload)["serviceAccountName"]
        assert name in accounts, f"{workload['metadata']['name']} uses a missing {name}"
        assert accounts[name]["automountServiceAccountToken"] is False


def test_network_policy_denies_ingress_by_default() -> None:
    deny = find("NetworkPolicy", "default-deny-ingress")
    assert deny["spec"]["podSelector"] == {}
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]


# --- Data stores -------------------------------------------------------------------------------


def test_mongo_is_a_single_member_replica_set_on_a_volume() -> None:
    statefulset = find("StatefulSet", "mongo")
    spec = container(statefulset)
    assert spec["image"].startswith("mongo:7")
    assert spec["args"][:2] == ["--replSet", "rs0"]
    claims = statefulset["spec"]["volumeClaimTemplates"]
    assert [claim["metadata"]["name"] for claim in claims] == ["data"]
    assert {"name": "data", "mountPath": "/data/db"} in spec["volumeMounts"]
    headless = find("Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    # The member initiates the replica set under the name the server connects to.
    init = " ".join(spec["lifecycle"]["postStart"]["exec"]["command"])
    assert urlsplit(secret()["MONGODB_URL"]).netloc in init


def test_redis_has_a_service_and_probes() -> None:
    redis = find("Deployment", "redis")
    spec = container(redis)
    assert spec["image"].startswith("redis:7")
    assert spec["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]
    service = find("Service", "redis")
    assert [port["port"] for port in service["spec"]["ports"]] == [6379]
