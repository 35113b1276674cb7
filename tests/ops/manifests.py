"""Reading the deployment files for the ops tests: k8s/ manifests, the Dockerfile, compose.

Plain functions, no Django: the tests that need the server's settings load them in a subprocess.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
NAMESPACE = "websocket"
ISTIO_GROUPS = ("networking.istio.io/", "security.istio.io/")

Manifest = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@cache
def _load(path: Path) -> tuple[Manifest, ...]:
    with path.open() as handle:
        return tuple(doc for doc in yaml.safe_load_all(handle) if doc)


def manifests() -> list[Manifest]:
    return [doc for path in manifest_files() for doc in _load(path)]


def kustomization() -> Manifest:
    return _load(K8S / "kustomization.yaml")[0]


def is_istio(doc: Manifest) -> bool:
    return doc["apiVersion"].startswith(ISTIO_GROUPS)


def find(kind: str, name: str | None = None) -> Manifest:
    """The one manifest of this kind (and name)."""
    found = [
        doc
        for doc in manifests()
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def find_all(kind: str) -> list[Manifest]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def pod_spec(workload: Manifest) -> Manifest:
    return workload["spec"]["template"]["spec"]


def container(workload: Manifest, name: str | None = None) -> Manifest:
    containers = pod_spec(workload)["containers"]
    if name is None:
        assert len(containers) == 1, "expected a single container"
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def workloads() -> list[Manifest]:
    return [doc for doc in manifests() if doc["kind"] in ("Deployment", "StatefulSet", "Job")]


def config_map() -> dict[str, str]:
    return find("ConfigMap", "websocket-config")["data"]


def secret() -> dict[str, str]:
    return find("Secret", "websocket-secrets")["stringData"]


def env_provided(workload: Manifest) -> dict[str, str]:
    """Every variable the workload's container gets, with where it comes from."""
    provided: dict[str, str] = {}

    def add(name: str, source: str) -> None:
        assert name not in provided, f"{name} is provided twice ({provided[name]} and {source})"
        provided[name] = source

    spec = container(workload)
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]["name"]
            for key in find("ConfigMap", ref)["data"]:
                add(key, f"ConfigMap {ref}")
        elif "secretRef" in source:
            ref = source["secretRef"]["name"]
            for key in find("Secret", ref)["stringData"]:
                add(key, f"Secret {ref}")
    for entry in spec.get("env", []):
        add(entry["name"], "env")
    return provided


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
