"""deploy.sh's releases (docs/operations.md, "Releasing a new version"): rolling, canary and
blue-green, each told as the commands it runs and the manifests it applies.

kubectl and curl are small scripts. kubectl logs every call, answers `get -o jsonpath=…` from a
state file holding the cluster's Deployments and VirtualService (taken from the real overlays,
built with kustomize), applies `patch --type=json` (its `test` ops included) and `scale` to that
state, and keeps a copy of what `apply -k` was given. curl answers Prometheus's JSON per version.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.manifests import (
    BLUE_GREEN_OVERLAY,
    CANARY_OVERLAY,
    K8S,
    KUSTOMIZE,
    ROOT,
    Manifest,
    build,
    container,
    find,
)

BASH = shutil.which("bash") or "/bin/bash"
SCRIPT = ROOT / "deploy.sh"
SECRETS = (
    "DJANGO_SECRET_KEY=" + "k" * 50 + "\n"
    "JWT_SECRET=" + "j" * 32 + "\n"
    "MONGODB_URL=mongodb://mongo-0.mongo.websocket.svc.cluster.local:27017/?replicaSet=rs0\n"
)
REPOSITORY = "registry.example.com/signight/websocket-server"
DIGEST = "sha256:" + "d" * 64
RUNNING = f"{REPOSITORY}:1.0.0"
NEW = f"{REPOSITORY}:1.1.0@{DIGEST}"
# What the script needs besides kubectl, docker and curl (linked into a directory of their own,
# so that a test can leave kubectl out while /usr/bin holds a real one).
TOOLS = ("cat", "cp", "grep", "mktemp", "rm", "dirname", "sed", "awk", "sleep", "git", "cut")

FAKE_KUBECTL = '''
"""kubectl: logs the call; answers get, patch and scale from state.json beside bin/."""
import json, re, shutil, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
args = sys.argv[1:]
with (HERE / "calls.log").open("a") as log:
    log.write(" ".join(["kubectl", *args]) + "\\n")
if args[:2] == ["-n", "websocket"]:
    args = args[2:]
STATE = HERE / "state.json"
state = json.loads(STATE.read_text()) if STATE.exists() else {}


def jsonpath(obj, expression):
    step = r'\\.([\\w-]+)|\\[(\\d+)\\]|\\[\\?\\(@\\.(\\w+)=="([^"]*)"\\)\\]'
    steps = re.findall(step, expression)
    for key, index, field, wanted in steps:
        if key:
            obj = obj.get(key) if isinstance(obj, dict) else None
        elif index:
            obj = obj[int(index)] if isinstance(obj, list) and int(index) < len(obj) else None
        else:
            obj = next((o for o in obj or [] if o.get(field) == wanted), None)
    return "" if obj is None else str(obj)


def json_patch(obj, ops):
    for op in ops:
        *parents, last = [p.replace("~1", "/") for p in op["path"].split("/")[1:]]
        target = obj
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key = int(last) if isinstance(target, list) else last
        if op["op"] == "test" and target[key] != op["value"]:
            sys.exit(f"The request is invalid: test failed at {op['path']}")
        if op["op"] in ("add", "replace"):
            target[key] = op["value"]


verb = args[0] if args else ""
if verb == "config":
    print("test-context")
elif verb == "apply":
    shutil.rmtree(HERE / "overlay", ignore_errors=True)
    shutil.copytree(args[args.index("-k") + 1], HERE / "overlay")
elif verb == "get" and args[1] in ("deployment", "virtualservice"):
    key = f"{args[1]}/{args[2]}"
    if key not in state:
        if "--ignore-not-found" in args:
            sys.exit(0)
        sys.exit(f'Error from server (NotFound): {args[1]} "{args[2]}" not found')
    template = args[args.index("-o") + 1].removeprefix("jsonpath=")
    print(re.sub(r"\\{([^}]*)\\}", lambda m: jsonpath(state[key], m.group(1)), template), end="")
elif verb == "patch":
    try:
        json_patch(state[f"{args[1]}/{args[2]}"], json.loads(args[args.index("-p") + 1]))
    except (KeyError, IndexError) as exc:
        sys.exit(f"The request is invalid: no {exc}")
    STATE.write_text(json.dumps(state))
elif verb == "scale":
    kind, name = args[1].split("/")
    replicas = int(next(a for a in args if a.startswith("--replicas=")).split("=")[1])
    deployment = state[f"{kind}/{name}"]
    deployment["spec"]["replicas"] = replicas
    deployment["status"] = {"replicas": replicas, "readyReplicas": replicas}
    STATE.write_text(json.dumps(state))
'''
FAKE_CURL = '''
"""curl: logs the call; answers a Prometheus query per version from prometheus.json, whose
lists give the answer of each successive call (the last one repeats; null: no traffic)."""
import json, re, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
args = sys.argv[1:]
with (HERE / "calls.log").open("a") as log:
    log.write(" ".join(["curl", *args]) + "\\n")
query = next(a for a in args if a.startswith("query=")).removeprefix("query=")
version = re.search(r'version="([^"]+)"', query).group(1)
counts_file = HERE / "curl-counts.json"
counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
answers = json.loads((HERE / "prometheus.json").read_text())[version]
answer = answers[min(counts.get(version, 0), len(answers) - 1)]
counts[version] = counts.get(version, 0) + 1
counts_file.write_text(json.dumps(counts))
result = [] if answer is None else [{"metric": {}, "value": [1767225600.781, answer]}]
print(json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}},
                 separators=(",", ":")))
'''


def error_rate_query(version: str) -> str:
    """Errors per client message over five minutes (the issue's query, word for word)."""
    return (
        f'(sum(rate(signight_errors_total{{version="{version}"}}[5m])) or vector(0)) / '
        f'(sum(rate(signight_messages_in_total{{version="{version}"}}[5m])) > 0)'
    )


# --- The cluster as the stubs see it -----------------------------------------------------------


def deployment(
    docs: list[Manifest], name: str, image: str, version: str, replicas: int, ready: int
) -> Manifest:
    """A Deployment of the built overlay `docs` as the cluster would hold it."""
    doc = find("Deployment", name, docs)
    container(doc, "websocket-server")["image"] = image
    doc["spec"]["template"]["metadata"]["labels"]["version"] = version
    doc["spec"]["replicas"] = replicas
    doc["status"] = {"replicas": replicas, **({"readyReplicas": ready} if ready else {})}
    return doc


def canary_routes(weight: int = 10) -> Manifest:
    routes = find("VirtualService", "websocket-server", build(CANARY_OVERLAY))
    for index in (2, 4):
        stable, canary = routes["spec"]["http"][index]["route"]
        stable["weight"], canary["weight"] = 100 - weight, weight
    return routes


def colour_routes(colour: str) -> Manifest:
    routes = find("VirtualService", "websocket-server", build(BLUE_GREEN_OVERLAY))
    for route in routes["spec"]["http"]:
        route["route"][0]["destination"]["subset"] = colour
    return routes


def weights(routes: Manifest) -> dict[str, dict[str, int]]:
    return {
        http["name"]: {r["destination"]["subset"]: r["weight"] for r in http["route"]}
        for http in routes["spec"]["http"]
        if len(http["route"]) > 1
    }


def subsets(routes: Manifest) -> dict[str, list[str]]:
    """Each route's destinations, by subset, in order."""
    return {
        http["name"]: [r["destination"]["subset"] for r in http["route"]]
        for http in routes["spec"]["http"]
    }


class Cluster:
    """A tmp_path with the stubs on PATH, the cluster's state, and deploy.sh to run against it."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path
        self.bin = tmp_path / "bin"
        self.tools = tmp_path / "tools"
        self.bin.mkdir()
        self.tools.mkdir()
        for name, body in (("kubectl", FAKE_KUBECTL), ("curl", FAKE_CURL)):
            path = self.bin / name
            path.write_text(f"#!{sys.executable}\n{body}")
            path.chmod(0o755)
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found, f"{tool} is not installed"
            (self.tools / tool).symlink_to(os.path.realpath(found))
        self.secrets = tmp_path / "secrets.env"
        self.secrets.write_text(SECRETS)
        self.holds()

    def holds(self, *objects: Manifest) -> None:
        state = {f"{o['kind'].lower()}/{o['metadata']['name']}": o for o in objects}
        (self.home / "state.json").write_text(json.dumps(state))

    def state(self, kind: str, name: str) -> Manifest:
        return json.loads((self.home / "state.json").read_text())[f"{kind}/{name}"]

    def prometheus_answers(self, **by_version: list[str | None]) -> None:
        (self.home / "prometheus.json").write_text(json.dumps(by_version))

    def deploy(
        self, *arguments: str, kubectl: bool = True, secrets: bool = True, **environ: str
    ) -> subprocess.CompletedProcess[str]:
        path = f"{self.bin}:{self.tools}" if kubectl else str(self.tools)
        settings = {"SECRETS_ENV": str(self.secrets), "JWT_AUDIENCE": "signight-game"}
        return subprocess.run(
            [BASH, str(SCRIPT), *arguments],
            env={"PATH": path, "HOME": str(self.home), **(settings if secrets else {}), **environ},
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def calls(self) -> list[str]:
        log = self.home / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def cluster_calls(self) -> list[str]:
        """The calls after the checks that the cluster and Istio answer."""
        checks = ("kubectl cluster-info", "kubectl get crd")
        return [call for call in self.calls() if not call.startswith(checks)]

    def applied(self) -> list[Manifest]:
        """What the last `kubectl apply -k` applies: its directory built with kustomize."""
        run = subprocess.run(
            [str(KUSTOMIZE), "build", str(self.home / "overlay")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def assert_in_order(log: list[str], steps: list[str]) -> None:
    position = 0
    for step in steps:
        found = [i for i, call in enumerate(log) if i >= position and call.startswith(step)]
        assert found, f"{step!r} missing or out of order in:\n" + "\n".join(log)
        position = found[0] + 1


def runs(workload: Manifest, container_name: str = "websocket-server") -> tuple[str, str]:
    """(image, version label) of a workload's pods."""
    return (
        container(workload, container_name)["image"],
        workload["spec"]["template"]["metadata"]["labels"]["version"],
    )


def assert_real_secret(docs: list[Manifest]) -> None:
    secret = find("Secret", "websocket-secrets", docs)
    values = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert values["DJANGO_SECRET_KEY"] == "k" * 50
    assert "REPLACE-ME" not in json.dumps(docs)


def patch_ops(call: str) -> list[dict[str, Any]]:
    return json.loads(call.split(" -p ", 1)[1])


MIGRATE_THEN_APPLY = [
    "kubectl -n websocket delete job websocket-migrate",
    "kubectl apply -k",  # datastores, config, policy and the migration Job
    "kubectl -n websocket rollout status statefulset/mongo",
    "kubectl -n websocket rollout status deployment/redis",
    "kubectl -n websocket wait --for=condition=complete job/websocket-migrate",
]
HOLD_ROUTES = "app.kubernetes.io/component!=routes"


# --- Usage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["deploy"],
        ["rolling"],
        ["rolling", NEW, RUNNING],
        ["rolling", "--fast", NEW],
        ["canary"],
        ["canary", NEW, "--weight", "101"],
        ["canary", "--weight", "ten"],
        ["canary", "--weight", "-5"],
        ["canary", "--weight"],
        ["canary", NEW, "--promote"],
        ["canary", "--promote", "--abort"],
        ["canary", "--weight", "5", "--abort"],
        ["canary", "--switch"],
        ["blue-green"],
        ["blue-green", NEW, "--switch"],
        ["blue-green", "--weight", "5"],
        ["blue-green", "--promote"],
    ],
)
def test_bad_usage_exits_2_with_the_usage_and_touches_nothing(
    cluster: Cluster, arguments: list[str]
) -> None:
    run = cluster.deploy(*arguments)
    assert run.returncode == 2
    assert run.stdout == ""
    assert "usage: ./deploy.sh" in run.stderr
    assert cluster.calls() == []


@pytest.mark.parametrize(
    ("image", "said"),
    [
        (REPOSITORY, "has no tag"),
        (f"registry.example.com:5000/signight/websocket-server@{DIGEST}", "has no tag"),
        (f"{REPOSITORY}:-rc1", "cannot be a version label"),
        (f"{REPOSITORY}:{'v' * 64}", "cannot be a version label"),
        (f"{REPOSITORY}:1.1.0@sha256:abc", "is not a digest"),
    ],
)
def test_an_image_must_name_a_tag_that_can_be_the_version_label(
    cluster: Cluster, image: str, said: str
) -> None:
    for subcommand in ("rolling", "canary", "blue-green"):
        run = cluster.deploy(subcommand, image)
        assert run.returncode == 2
        assert said in run.stderr
    assert cluster.calls() == []


@pytest.mark.parametrize(
    "arguments",
    [
        ["rolling", NEW],
        ["canary", NEW],
        ["canary", "--weight", "20"],
        ["canary", "--promote"],
        ["canary", "--abort"],
        ["blue-green", NEW],
        ["blue-green", "--switch"],
        ["blue-green", "--rollback"],
    ],
)
def test_every_subcommand_refuses_without_kubectl(cluster: Cluster, arguments: list[str]) -> None:
    run = cluster.deploy(*arguments, kubectl=False, PROMETHEUS_URL="http://prometheus:9090")
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("deploy.sh: kubectl not found on PATH")
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize("arguments", [["rolling", NEW], ["canary", NEW], ["blue-green", NEW]])
def test_the_subcommands_that_apply_k8s_need_the_secrets(
    cluster: Cluster, arguments: list[str]
) -> None:
    run = cluster.deploy(*arguments, secrets=False)
    assert run.returncode == 1
    assert "SECRETS_ENV is not set" in run.stderr
    assert cluster.calls() == []


# --- Rolling -----------------------------------------------------------------------------------


def test_rolling_migrates_then_rolls_the_base_out_on_the_image_without_docker(
    cluster: Cluster,
) -> None:
    run = cluster.deploy("rolling", NEW)  # no docker on PATH
    assert run.returncode == 0, run.stderr
    assert f"deployment/websocket-server: {NEW} (version 1.1.0)" in run.stdout
    assert_in_order(
        cluster.calls(),
        [
            "kubectl cluster-info",
            "kubectl get crd",
            *MIGRATE_THEN_APPLY,
            "kubectl apply -k",  # the server
            "kubectl -n websocket rollout status deployment/websocket-server",
            "kubectl -n websocket get all",
        ],
    )
    first_apply = next(call for call in cluster.calls() if call.startswith("kubectl apply -k"))
    assert first_apply.endswith("--selector app!=websocket-server")
    applied = cluster.applied()
    assert runs(find("Deployment", "websocket-server", applied)) == (NEW, "1.1.0")
    assert runs(find("Job", "websocket-migrate", applied), "migrate") == (NEW, "1.1.0")
    assert_real_secret(applied)


# --- Canary ------------------------------------------------------------------------------------


def rolling_install(image: str = RUNNING, version: str = "1.0.0") -> Manifest:
    return deployment(build(K8S), "websocket-server", image, version, replicas=3, ready=3)


def canary_install(canary_ready: int = 1, canary_version: str = "1.1.0") -> list[Manifest]:
    docs = build(CANARY_OVERLAY)
    canary_image = f"{REPOSITORY}:{canary_version}@{DIGEST}"
    return [
        deployment(docs, "websocket-server", RUNNING, "1.0.0", replicas=3, ready=3),
        deployment(docs, "websocket-server-canary", canary_image, canary_version, 1, canary_ready),
        canary_routes(10),
    ]


def test_canary_image_runs_beside_stable_and_takes_its_weight_once_ready(
    cluster: Cluster,
) -> None:
    cluster.holds(rolling_install())
    run = cluster.deploy("canary", NEW, "--weight", "25")
    assert run.returncode == 0, run.stderr
    for change in (
        f"deployment/websocket-server-canary: {NEW} (version 1.1.0)",
        f"deployment/websocket-server (stable): {RUNNING} (version 1.0.0)",
        "stable 75 / canary 25",
    ):
        assert change in run.stdout
    log = cluster.cluster_calls()
    assert log[0].startswith("kubectl -n websocket get deployment websocket-server ")
    assert_in_order(
        log,
        [
            *MIGRATE_THEN_APPLY,
            "kubectl apply -k",  # the server Deployments, routes held back
            "kubectl -n websocket rollout status deployment/websocket-server-canary",
            "kubectl apply -k",  # the routes, last
        ],
    )
    applies = [call for call in log if call.startswith("kubectl apply -k")]
    assert [call.partition(" --selector ")[2] for call in applies] == [
        f"app!=websocket-server,{HOLD_ROUTES}",
        HOLD_ROUTES,
        "",
    ]
    applied = cluster.applied()
    assert runs(find("Deployment", "websocket-server-canary", applied)) == (NEW, "1.1.0")
    assert runs(find("Deployment", "websocket-server", applied)) == (RUNNING, "1.0.0")
    assert runs(find("Job", "websocket-migrate", applied), "migrate") == (NEW, "1.1.0")
    routes = find("VirtualService", "websocket-server", applied)
    assert routes["metadata"]["labels"]["app.kubernetes.io/component"] == "routes"
    assert weights(routes) == {
        "http-api": {"stable": 75, "canary": 25},
        "game-socket": {"stable": 75, "canary": 25},
    }
    assert subsets(routes) == {
        "health": ["stable"],
        "http-api-pinned": ["canary"],
        "http-api": ["stable", "canary"],
        "game-socket-pinned": ["canary"],
        "game-socket": ["stable", "canary"],
    }
    assert_real_secret(applied)


def test_canary_weight_defaults_to_10(cluster: Cluster) -> None:
    cluster.holds(rolling_install())
    run = cluster.deploy("canary", NEW)
    assert run.returncode == 0, run.stderr
    routes = find("VirtualService", "websocket-server", cluster.applied())
    assert weights(routes) == {
        "http-api": {"stable": 90, "canary": 10},
        "game-socket": {"stable": 90, "canary": 10},
    }


@pytest.mark.parametrize(
    ("stable_replicas", "said"),
    [
        (None, "the canary runs beside the stable track, deploy rolling first"),
        (0, "deployment/websocket-server is not ready (0/0 ready)"),
    ],
)
def test_canary_image_refuses_without_a_serving_stable_deployment(
    cluster: Cluster, stable_replicas: int | None, said: str
) -> None:
    if stable_replicas is not None:
        cluster.holds(
            deployment(build(K8S), "websocket-server", RUNNING, "1.0.0", stable_replicas, 0)
        )
    run = cluster.deploy("canary", NEW)
    assert run.returncode == 1
    assert said in run.stderr
    assert not any(call.startswith("kubectl apply") for call in cluster.calls())


def test_canary_weight_patches_the_named_routes_only(cluster: Cluster) -> None:
    cluster.holds(*canary_install())
    run = cluster.deploy("canary", "--weight", "50", secrets=False)
    assert run.returncode == 0, run.stderr
    assert "stable 50 / canary 50" in run.stdout
    log = cluster.cluster_calls()
    assert log[0].startswith("kubectl -n websocket get deployment websocket-server-canary ")
    assert log[1].startswith(
        "kubectl -n websocket patch virtualservice websocket-server --type=json -p "
    )
    assert len(log) == 2
    ops = patch_ops(log[1])
    first_replace = next(i for i, op in enumerate(ops) if op["op"] == "replace")
    tests = {op["path"]: op["value"] for op in ops[:first_replace]}
    assert tests["/spec/http/2/name"] == "http-api"
    assert tests["/spec/http/4/name"] == "game-socket"
    assert all(op["op"] == "replace" for op in ops[first_replace:])
    assert weights(cluster.state("virtualservice", "websocket-server")) == {
        "http-api": {"stable": 50, "canary": 50},
        "game-socket": {"stable": 50, "canary": 50},
    }


def test_canary_weight_never_lands_on_routes_of_another_shape(cluster: Cluster) -> None:
    docs = build(CANARY_OVERLAY)
    cluster.holds(
        deployment(docs, "websocket-server-canary", NEW, "1.1.0", replicas=1, ready=1),
        colour_routes("blue"),
    )
    run = cluster.deploy("canary", "--weight", "50", secrets=False)
    assert run.returncode != 0
    assert "test failed at /spec/http/2/name" in run.stderr
    assert cluster.state("virtualservice", "websocket-server") == colour_routes("blue")


def test_canary_weight_sends_no_one_to_a_canary_that_is_not_ready(cluster: Cluster) -> None:
    cluster.holds(*canary_install(canary_ready=0))
    run = cluster.deploy("canary", "--weight", "20", secrets=False)
    assert run.returncode == 1
    assert "websocket-server-canary is not ready (0/1 ready)" in run.stderr
    assert not any(" patch " in call for call in cluster.calls())


def test_canary_promote_refuses_without_prometheus_url(cluster: Cluster) -> None:
    cluster.holds(*canary_install())
    run = cluster.deploy("canary", "--promote", secrets=False)
    assert run.returncode == 1
    assert "PROMETHEUS_URL is not set" in run.stderr
    assert cluster.calls() == []


PROMOTE = {"PROMETHEUS_URL": "http://prometheus.monitoring:9090", "PROMOTE_INTERVAL": "0"}


def test_canary_promote_waits_for_traffic_and_a_rate_not_above_stable_then_promotes(
    cluster: Cluster,
) -> None:
    cluster.holds(*canary_install())
    # The canary: no traffic yet, then more errors than stable, then fewer.
    cluster.prometheus_answers(**{"1.1.0": [None, "0.05", "0.001"], "1.0.0": ["0.01"]})
    run = cluster.deploy("canary", "--promote", secrets=False, PROMOTE_TIMEOUT="60", **PROMOTE)
    assert run.returncode == 0, run.stderr
    assert "waiting: the canary (1.1.0) has had no traffic yet" in run.stdout
    assert "waiting: the canary's error rate 0.05 is above stable's 0.01" in run.stdout
    assert "its error rate 0.001 is not above stable's 0.01" in run.stdout
    log = cluster.cluster_calls()
    queries = [call for call in log if call.startswith("curl ")]
    assert len(queries) == 6  # canary and stable, three times
    assert queries[0] == (
        f"curl -fsS --get --data-urlencode query={error_rate_query('1.1.0')} "
        "http://prometheus.monitoring:9090/api/v1/query"
    )
    assert queries[1].endswith(f"query={error_rate_query('1.0.0')} " + queries[0].split()[-1])
    after = log[log.index(queries[-1]) + 1 :]
    assert_in_order(
        after,
        [
            "kubectl -n websocket patch deployment websocket-server --type=json",
            "kubectl -n websocket rollout status deployment/websocket-server",
            "kubectl -n websocket patch virtualservice websocket-server --type=json",
            "kubectl -n websocket scale deployment/websocket-server-canary --replicas=0",
        ],
    )
    assert runs(cluster.state("deployment", "websocket-server")) == (NEW, "1.1.0")
    assert weights(cluster.state("virtualservice", "websocket-server")) == {
        "http-api": {"stable": 100, "canary": 0},
        "game-socket": {"stable": 100, "canary": 0},
    }
    assert cluster.state("deployment", "websocket-server-canary")["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("canary_ready", "answers", "why"),
    [
        (0, {"1.1.0": ["0.001"], "1.0.0": ["0.01"]}, "the canary is not ready (0/1 ready)"),
        (1, {"1.1.0": ["0.2"], "1.0.0": ["0.01"]}, "error rate 0.2 is above stable's 0.01"),
        (1, {"1.1.0": [None], "1.0.0": ["0.01"]}, "the canary (1.1.0) has had no traffic yet"),
        (1, {"1.1.0": ["0.001"], "1.0.0": [None]}, "stable (1.0.0) has had no traffic yet"),
    ],
)
def test_canary_promote_gives_up_at_the_timeout_changing_nothing(
    cluster: Cluster, canary_ready: int, answers: dict[str, list[str | None]], why: str
) -> None:
    install = canary_install(canary_ready=canary_ready)
    cluster.holds(*install)
    cluster.prometheus_answers(**answers)
    run = cluster.deploy("canary", "--promote", secrets=False, PROMOTE_TIMEOUT="0", **PROMOTE)
    assert run.returncode == 1
    assert "not promoted after 0s" in run.stderr
    assert why in run.stderr
    assert "nothing was changed" in run.stderr
    assert not any(f" {verb} " in call for call in cluster.calls() for verb in ("patch", "scale"))
    assert cluster.state("deployment", "websocket-server") == install[0]
    assert cluster.state("virtualservice", "websocket-server") == install[2]


def test_canary_promote_refuses_a_canary_of_the_stable_version(cluster: Cluster) -> None:
    cluster.holds(*canary_install(canary_version="1.0.0"))
    run = cluster.deploy("canary", "--promote", secrets=False, **PROMOTE)
    assert run.returncode == 1
    assert "the canary and stable both run version 1.0.0" in run.stderr
    assert not any(call.startswith("curl") for call in cluster.calls())


def test_canary_abort_sends_everyone_to_stable_then_stops_the_canary(cluster: Cluster) -> None:
    cluster.holds(*canary_install())
    run = cluster.deploy("canary", "--abort", secrets=False)
    assert run.returncode == 0, run.stderr
    assert "stable 100 / canary 0" in run.stdout
    log = cluster.cluster_calls()
    assert [call.split(" -p ")[0] for call in log] == [
        "kubectl -n websocket patch virtualservice websocket-server --type=json",
        "kubectl -n websocket scale deployment/websocket-server-canary --replicas=0",
    ]
    assert weights(cluster.state("virtualservice", "websocket-server")) == {
        "http-api": {"stable": 100, "canary": 0},
        "game-socket": {"stable": 100, "canary": 0},
    }
    assert cluster.state("deployment", "websocket-server-canary")["spec"]["replicas"] == 0


# --- Blue-green --------------------------------------------------------------------------------


def colours(live: str, idle_replicas: int, idle_ready: int) -> list[Manifest]:
    idle = "green" if live == "blue" else "blue"
    docs = build(BLUE_GREEN_OVERLAY)
    return [
        deployment(docs, f"websocket-server-{live}", RUNNING, "1.0.0", 2, 2),
        deployment(
            docs,
            f"websocket-server-{idle}",
            f"{REPOSITORY}:0.9.0",
            "0.9.0",
            idle_replicas,
            idle_ready,
        ),
        colour_routes(live),
    ]


ALL_ROUTES = ("health", "http-api", "game-socket")


def every_route_to(colour: str) -> dict[str, list[str]]:
    return {name: [colour] for name in ALL_ROUTES}


@pytest.mark.parametrize(("live", "idle"), [("blue", "green"), ("green", "blue")])
def test_blue_green_image_goes_to_the_idle_colour_and_moves_no_player(
    cluster: Cluster, live: str, idle: str
) -> None:
    cluster.holds(*colours(live, idle_replicas=0, idle_ready=0))
    run = cluster.deploy("blue-green", NEW)
    assert run.returncode == 0, run.stderr
    assert f"deployment/websocket-server-{idle} (idle): {NEW} (version 1.1.0)" in run.stdout
    assert f"routes: all to {live}" in run.stdout
    assert "./deploy.sh blue-green --switch" in run.stdout
    log = cluster.cluster_calls()
    assert log[0].startswith("kubectl -n websocket get virtualservice websocket-server ")
    assert log[0].endswith("jsonpath={.spec.http[2].route[0].destination.subset}")
    assert_in_order(
        log,
        [
            f"kubectl -n websocket get deployment websocket-server-{live} ",
            *MIGRATE_THEN_APPLY,
            "kubectl apply -k",  # the server Deployments, routes held back
            f"kubectl -n websocket scale deployment/websocket-server-{idle} --replicas=2",
            f"kubectl -n websocket rollout status deployment/websocket-server-{idle}",
            "kubectl apply -k",
        ],
    )
    assert not any(" patch " in call for call in log)
    assert not any(f"scale deployment/websocket-server-{live}" in call for call in log)
    applied = cluster.applied()
    assert runs(find("Deployment", f"websocket-server-{idle}", applied)) == (NEW, "1.1.0")
    assert runs(find("Deployment", f"websocket-server-{live}", applied)) == (RUNNING, "1.0.0")
    assert runs(find("Job", "websocket-migrate", applied), "migrate") == (NEW, "1.1.0")
    routes = find("VirtualService", "websocket-server", applied)
    assert subsets(routes) == every_route_to(live)
    assert_real_secret(applied)


def test_blue_green_first_install_runs_the_image_on_both_colours_routes_on_blue(
    cluster: Cluster,
) -> None:
    cluster.holds(rolling_install())  # the base's routes name no subset
    run = cluster.deploy("blue-green", NEW)
    assert run.returncode == 0, run.stderr
    log = cluster.cluster_calls()
    assert_in_order(
        log,
        [
            *MIGRATE_THEN_APPLY,
            "kubectl apply -k",  # the server Deployments, routes held back
            "kubectl -n websocket rollout status deployment/websocket-server-blue",
            "kubectl -n websocket rollout status deployment/websocket-server-green",
            "kubectl apply -k",
        ],
    )
    applied = cluster.applied()
    for colour in ("blue", "green"):
        assert runs(find("Deployment", f"websocket-server-{colour}", applied)) == (NEW, "1.1.0")
    routes = find("VirtualService", "websocket-server", applied)
    assert subsets(routes) == every_route_to("blue")


def test_blue_green_switch_refuses_while_the_idle_colour_is_not_ready(cluster: Cluster) -> None:
    install = colours("blue", idle_replicas=2, idle_ready=1)
    cluster.holds(*install)
    run = cluster.deploy("blue-green", "--switch", secrets=False)
    assert run.returncode == 1
    assert "websocket-server-green is not ready (1/2 ready): nothing was switched" in run.stderr
    assert not any(f" {verb} " in call for call in cluster.calls() for verb in ("patch", "scale"))
    assert cluster.state("virtualservice", "websocket-server") == install[2]


def test_blue_green_switch_moves_every_route_then_drains_the_old_colour(
    cluster: Cluster,
) -> None:
    cluster.holds(*colours("blue", idle_replicas=2, idle_ready=2), rolling_install())
    run = cluster.deploy("blue-green", "--switch", secrets=False)
    assert run.returncode == 0, run.stderr
    assert "routes: all from blue to green" in run.stdout
    assert "deployment/websocket-server from a rolling install still runs" in run.stdout
    log = cluster.cluster_calls()
    assert_in_order(
        log,
        [
            "kubectl -n websocket get virtualservice websocket-server ",
            "kubectl -n websocket get deployment websocket-server-green ",
            "kubectl -n websocket patch virtualservice websocket-server --type=json -p ",
            "kubectl -n websocket scale deployment/websocket-server-blue --replicas=0",
            "kubectl -n websocket scale deployment/websocket-server --replicas=0",
        ],
    )
    patch = next(call for call in log if " patch " in call)
    tests = {op["path"]: op["value"] for op in patch_ops(patch) if op["op"] == "test"}
    assert {tests[f"/spec/http/{i}/name"] for i in range(3)} == set(ALL_ROUTES)
    assert subsets(cluster.state("virtualservice", "websocket-server")) == every_route_to("green")
    assert cluster.state("deployment", "websocket-server-blue")["spec"]["replicas"] == 0
    assert cluster.state("deployment", "websocket-server")["spec"]["replicas"] == 0


def test_blue_green_rollback_starts_the_other_colour_before_moving_the_routes(
    cluster: Cluster,
) -> None:
    cluster.holds(*colours("green", idle_replicas=0, idle_ready=0))
    run = cluster.deploy("blue-green", "--rollback", secrets=False)
    assert run.returncode == 0, run.stderr
    assert "routes: all from green back to blue" in run.stdout
    log = cluster.cluster_calls()
    assert_in_order(
        log,
        [
            "kubectl -n websocket scale deployment/websocket-server-blue --replicas=2",
            "kubectl -n websocket rollout status deployment/websocket-server-blue",
            "kubectl -n websocket patch virtualservice websocket-server --type=json -p ",
            "kubectl -n websocket scale deployment/websocket-server-green --replicas=0",
        ],
    )
    assert subsets(cluster.state("virtualservice", "websocket-server")) == every_route_to("blue")
    assert cluster.state("deployment", "websocket-server-green")["spec"]["replicas"] == 0


def test_blue_green_refuses_routes_of_a_canary_install(cluster: Cluster) -> None:
    cluster.holds(*canary_install())
    for arguments in (["blue-green", NEW], ["blue-green", "--switch"]):
        run = cluster.deploy(*arguments)
        assert run.returncode == 1
        assert "the routes go to subset stable, not to a colour" in run.stderr
    assert not any(
        call.startswith("kubectl apply") or " patch " in call or " scale " in call
        for call in cluster.calls()
    )
