"""deploy.sh (docs/operations.md "Kubernetes"): refuses clearly, and deploys in the right order.

kubectl and docker are replaced by small scripts that log their arguments, so nothing here
needs a cluster or a Docker daemon.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ops.manifests import BASE, K8S, KUSTOMIZE, ROOT

BASH = shutil.which("bash") or "/bin/bash"
SCRIPT = ROOT / "deploy.sh"
GOOD_SECRETS = (
    "DJANGO_SECRET_KEY=" + "k" * 50 + "\n"
    "JWT_SECRET=" + "j" * 32 + "\n"
    "MONGODB_URL=mongodb://mongo-0.mongo.websocket.svc.cluster.local:27017/?replicaSet=rs0&w=majority\n"
)

FAKE_KUBECTL = """#!{bash}
echo "kubectl $*" >> "{log}"
case "$1 $2" in
  "cluster-info "*) exit {cluster_rc} ;;
  "config current-context") echo test-context ;;
  "apply -k") rm -rf "{capture}"; cp -R "$3" "{capture}" ;;
esac
exit 0
"""
FAKE_DOCKER = """#!{bash}
echo "docker $*" >> "{log}"
if [ "$1" = inspect ]; then echo "registry.example.com/signight/websocket-server@sha256:abc"; fi
exit 0
"""


def fake_bin(tmp_path: Path, *, cluster_rc: int = 0, docker: bool = True) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fields = {
        "bash": BASH,
        "log": tmp_path / "calls.log",
        "capture": tmp_path / "overlay",
        "cluster_rc": cluster_rc,
    }
    tools = {"kubectl": FAKE_KUBECTL}
    if docker:
        tools["docker"] = FAKE_DOCKER
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(body.format(**fields))
        path.chmod(0o755)
    return bin_dir


AUDIENCE = "signight-game"


def deploy(path: str, tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """deploy.sh with JWT_AUDIENCE set unless `environ` says otherwise (None: unset)."""
    environ = {"JWT_AUDIENCE": AUDIENCE, **environ}
    return subprocess.run(
        [BASH, str(SCRIPT)],
        env={
            "PATH": path,
            "HOME": str(tmp_path),
            **{k: v for k, v in environ.items() if v is not None},
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def secrets_file(tmp_path: Path, text: str = GOOD_SECRETS) -> str:
    path = tmp_path / "secrets.env"
    path.write_text(text)
    return str(path)


def system_path() -> str:
    """Directories of the tools the script needs besides kubectl and docker (cp, grep, git …)."""
    return ":".join(
        dict.fromkeys(
            str(Path(shutil.which(t) or "/bin/x").parent)
            for t in ("cp", "grep", "mktemp", "git", "dirname", "cut")
        )
    )


def test_script_parses() -> None:
    run = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_script_passes_shellcheck() -> None:
    beside = Path(sys.executable).with_name("shellcheck")
    shellcheck = str(beside) if beside.exists() else shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: pip install -r requirements-dev.txt"
    run = subprocess.run(
        [shellcheck, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_missing_kubectl_is_named_and_nothing_else_runs(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run = deploy(str(empty), tmp_path)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("deploy.sh: kubectl not found on PATH")
    assert run.stderr.count("\n") == 1


def test_missing_docker_is_named(tmp_path: Path) -> None:
    run = deploy(str(fake_bin(tmp_path, docker=False)), tmp_path)
    assert run.returncode == 1
    assert run.stderr.startswith("deploy.sh: docker not found on PATH")
    assert calls(tmp_path) == []


def test_refuses_to_deploy_the_placeholder_secrets(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(path, tmp_path)
    assert run.returncode == 1
    assert "SECRETS_ENV is not set" in run.stderr
    run = deploy(
        path,
        tmp_path,
        SECRETS_ENV=secrets_file(tmp_path, GOOD_SECRETS.replace("j" * 32, "REPLACE-ME")),
    )
    assert run.returncode == 1
    assert "REPLACE-ME placeholder" in run.stderr
    run = deploy(path, tmp_path, SECRETS_ENV=secrets_file(tmp_path, "JWT_SECRET=x\n"))
    assert run.returncode == 1
    assert "sets no DJANGO_SECRET_KEY" in run.stderr
    run = deploy(
        path,
        tmp_path,
        SECRETS_ENV=secrets_file(
            tmp_path, GOOD_SECRETS.replace("JWT_SECRET=" + "j" * 32 + "\n", "")
        ),
    )
    assert run.returncode == 1
    assert "sets neither JWT_SECRET (HS256) nor JWT_PUBLIC_KEY (RS256)" in run.stderr
    assert calls(tmp_path) == []  # refused before touching the cluster or building


@pytest.mark.parametrize(
    ("audience", "said"),
    [
        (None, "JWT_AUDIENCE is not set"),
        ("REPLACE-ME-jwt-audience", "no placeholder"),
        ("a b", "is not an audience"),
    ],
)
def test_refuses_to_deploy_without_a_real_audience(tmp_path: Path, audience, said) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(path, tmp_path, SECRETS_ENV=secrets_file(tmp_path), JWT_AUDIENCE=audience)
    assert run.returncode == 1
    assert said in run.stderr
    assert calls(tmp_path) == []


def test_the_base_carries_the_audience_placeholder_in_both_places() -> None:
    config = yaml.safe_load((BASE / "configmap.yaml").read_text())
    (rule,) = yaml.safe_load((BASE / "istio-requestauthentication.yaml").read_text())["spec"][
        "jwtRules"
    ]
    assert config["data"]["JWT_AUDIENCE"] == "REPLACE-ME-jwt-audience"
    assert rule["audiences"] == ["REPLACE-ME-jwt-audience"]


def test_deploy_overlay_sets_the_audience_in_the_config_and_the_mesh(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(path, tmp_path, SECRETS_ENV=secrets_file(tmp_path), TAG="1.2.3")
    assert run.returncode == 0, run.stderr
    kustomization = yaml.safe_load((tmp_path / "overlay" / "kustomization.yaml").read_text())
    patches = {p["target"]["kind"]: yaml.safe_load(p["patch"]) for p in kustomization["patches"]}
    assert patches["ConfigMap"] == [
        {"op": "replace", "path": "/data/JWT_AUDIENCE", "value": AUDIENCE}
    ]
    assert patches["RequestAuthentication"] == [
        {"op": "replace", "path": "/spec/jwtRules/0/audiences", "value": [AUDIENCE]}
    ]


def test_deploy_labels_the_server_and_the_migration_with_the_tag_as_version(
    tmp_path: Path,
) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(path, tmp_path, SECRETS_ENV=secrets_file(tmp_path), TAG="1.2.3")
    assert run.returncode == 0, run.stderr
    kustomization = yaml.safe_load((tmp_path / "overlay" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["k8s/base"]
    version = [{"op": "add", "path": "/spec/template/metadata/labels/version", "value": "1.2.3"}]
    targets = [
        (p["target"], yaml.safe_load(p["patch"]))
        for p in kustomization["patches"]
        if p["target"]["kind"] in ("Deployment", "Job")
    ]
    assert targets == [
        ({"kind": "Deployment", "name": "websocket-server"}, version),
        ({"kind": "Job", "name": "websocket-migrate"}, version),
    ]


def test_deploy_refuses_a_tag_that_cannot_be_a_version_label(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(path, tmp_path, SECRETS_ENV=secrets_file(tmp_path), TAG="-rc1")
    assert run.returncode == 1
    assert "TAG=-rc1 cannot be a version label" in run.stderr
    assert not any(call.startswith("docker") for call in calls(tmp_path))


def test_unreachable_cluster_is_reported_before_building(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path, cluster_rc=1)}:{system_path()}"
    run = deploy(path, tmp_path, SECRETS_ENV=secrets_file(tmp_path))
    assert run.returncode == 1
    assert "cannot reach the Kubernetes cluster" in run.stderr
    assert "context: test-context" in run.stderr
    assert not any(call.startswith("docker") for call in calls(tmp_path))


def test_deploy_builds_pushes_migrates_then_rolls_out(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(
        path,
        tmp_path,
        SECRETS_ENV=secrets_file(tmp_path),
        TAG="1.2.3",
        REGISTRY="registry.example.com",
    )
    assert run.returncode == 0, run.stderr
    steps = [
        "docker build -t signight/websocket-server:1.2.3",
        "docker push registry.example.com/signight/websocket-server:1.2.3",
        "kubectl -n websocket delete job websocket-migrate",
        "kubectl apply -k",  # everything but the server
        "kubectl -n websocket rollout status statefulset/mongo",
        "kubectl -n websocket wait --for=condition=complete job/websocket-migrate",
        "kubectl apply -k",  # the server
        "kubectl -n websocket rollout status deployment/websocket-server",
        "kubectl -n websocket get all",
    ]
    log = calls(tmp_path)
    position = 0
    for step in steps:
        found = [i for i, call in enumerate(log) if i >= position and call.startswith(step)]
        assert found, f"{step!r} missing or out of order in:\n" + "\n".join(log)
        position = found[0] + 1
    first_apply = next(call for call in log if call.startswith("kubectl apply -k"))
    assert first_apply.endswith("--selector app!=websocket-server")


def test_deploy_overlay_sets_the_pushed_image_and_the_real_secret(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(
        path,
        tmp_path,
        SECRETS_ENV=secrets_file(tmp_path),
        TAG="1.2.3",
        REGISTRY="registry.example.com",
    )
    assert run.returncode == 0, run.stderr
    overlay = tmp_path / "overlay"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert kustomization["images"] == [
        {
            "name": "signight/websocket-server",
            "newName": "registry.example.com/signight/websocket-server",
            "newTag": "1.2.3",
            "digest": "sha256:abc",
        }
    ]
    (generator,) = kustomization["secretGenerator"]
    assert generator["name"] == "websocket-secrets"
    assert generator["behavior"] == "replace"
    assert (overlay / generator["envs"][0]).read_text() == GOOD_SECRETS
    # k8s/ is copied whole and untouched; the overlay applies its base.
    assert kustomization["resources"] == ["k8s/base"]
    copied = sorted(p.relative_to(K8S) for p in K8S.rglob("*.yaml"))
    assert copied
    assert sorted(p.relative_to(overlay / "k8s") for p in (overlay / "k8s").rglob("*.yaml")) == (
        copied
    )
    for manifest in copied:
        assert (overlay / "k8s" / manifest).read_text() == (K8S / manifest).read_text()


def test_deploy_overlay_renders_without_placeholders(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(
        path,
        tmp_path,
        SECRETS_ENV=secrets_file(tmp_path),
        TAG="1.2.3",
        REGISTRY="registry.example.com",
    )
    assert run.returncode == 0, run.stderr
    built = subprocess.run(
        [str(KUSTOMIZE), "build", str(tmp_path / "overlay")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    docs = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    (secret,) = [doc for doc in docs if doc["kind"] == "Secret"]
    values = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert values["DJANGO_SECRET_KEY"] == "k" * 50
    assert "REPLACE-ME" not in built.stdout
    images = {
        c["image"]
        for doc in docs
        if doc["kind"] in ("Deployment", "Job")
        for c in doc["spec"]["template"]["spec"]["containers"]
        if "websocket-server" in c["image"]
    }
    assert images == {"registry.example.com/signight/websocket-server:1.2.3@sha256:abc"}


def test_deploy_puts_a_pem_public_key_file_into_the_secret(tmp_path: Path) -> None:
    pem = tmp_path / "issuer.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----\n")
    without_hs256 = GOOD_SECRETS.replace("JWT_SECRET=" + "j" * 32 + "\n", "")
    path = f"{fake_bin(tmp_path)}:{system_path()}"
    run = deploy(
        path,
        tmp_path,
        SECRETS_ENV=secrets_file(tmp_path, without_hs256),
        JWT_PUBLIC_KEY_FILE=str(pem),
        TAG="1.2.3",
    )
    assert run.returncode == 0, run.stderr
    overlay = tmp_path / "overlay"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    (generator,) = kustomization["secretGenerator"]
    assert generator["files"] == ["JWT_PUBLIC_KEY=jwt_public_key.pem"]
    assert (overlay / "jwt_public_key.pem").read_text() == pem.read_text()
    # Without REGISTRY the image stays local: tag only, no digest.
    assert kustomization["images"] == [
        {
            "name": "signight/websocket-server",
            "newName": "signight/websocket-server",
            "newTag": "1.2.3",
        }
    ]
