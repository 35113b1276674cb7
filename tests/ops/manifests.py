"""Reading the deployment files for the ops tests: k8s/ manifests and the overlays beside it,
the Dockerfile, compose.

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
# Beside k8s/, not in it: kustomize refuses a base that contains its overlay.
OVERLAYS = ROOT / "k8s-overlays"
SENTINEL_OVERLAY = OVERLAYS / "redis-sentinel"
NAMESPACE = "websocket"
ISTIO_GROUPS = ("networking.istio.io/", "security.istio.io/")

Manifest = dict[str, Any]
Docs = Sequence[Manifest] | None


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
# `kubectl kustomize` builds them where kubectl is installed (test_overlay_builds_with_kustomize
# compares). Elsewhere build() resolves the part of kustomize the overlays use, no more:
# `resources` (files, and directories with a kustomization.yaml) and inline `patches`, each a
# strategic-merge patch on maps (or `$patch: delete`) or a JSON 6902 `add` / `replace` on a
# target. Anything else fails loudly rather than building something kustomize would not.


def build(directory: Path) -> list[Manifest]:
    """The manifests `kubectl kustomize directory` prints (in another order)."""
    kustomization = _load(directory / "kustomization.yaml")[0]
    unsupported = set(kustomization) - {"apiVersion", "kind", "resources", "patches"}
    assert not unsupported, f"{directory}: build() does not resolve {sorted(unsupported)}"
    docs: list[Manifest] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        docs += build(path) if path.is_dir() else [copy.deepcopy(doc) for doc in _load(path)]
    for patch in kustomization.get("patches", []):
        _apply(docs, patch)
    return docs


def identity(doc: Manifest) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


def _apply(docs: list[Manifest], entry: Manifest) -> None:
    assert "patch" in entry and set(entry) <= {"patch", "target"}, f"not resolved: {entry}"
    body = yaml.safe_load(entry["patch"])
    if isinstance(body, list):
        (doc,) = [doc for doc in docs if _targets(entry["target"], doc)]
        for operation in body:
            _json6902(doc, operation)
        return
    assert "target" not in entry, "strategic-merge patches name their object themselves"
    (doc,) = [doc for doc in docs if identity(doc) == identity(body)]
    if body.get("$patch") == "delete":
        docs.remove(doc)
    else:
        _merge(doc, {key: value for key, value in body.items() if key != "apiVersion"})


def _targets(target: Manifest, doc: Manifest) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    wanted = {"group": group, "kind": doc["kind"], "name": doc["metadata"]["name"]}
    assert set(target) <= wanted.keys(), f"target selector not resolved: {target}"
    return all(wanted[key] == value for key, value in target.items())


def _merge(into: Manifest, patch: Manifest) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            assert not isinstance(value, list), f"list merge keys not resolved ({key})"
            into[key] = copy.deepcopy(value)


def _json6902(doc: Manifest, operation: Manifest) -> None:
    assert operation["op"] in ("add", "replace"), f"op not resolved: {operation}"
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
    ]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    value = copy.deepcopy(operation["value"])
    if isinstance(node, list):
        if last == "-":
            node.append(value)
        elif operation["op"] == "add":
            node.insert(int(last), value)
        else:
            node[int(last)] = value
    else:
        assert operation["op"] == "add" or last in node, f"nothing to replace: {operation}"
        node[last] = value


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
