"""The JavaScript client, clients/js (issue 14): its node tests, the unit ones and the ones
against a real `manage.py serve` started here, whose URL they get as SIGNIGHT_WS_URL.

`make test` installs the client's packages from its committed lock file; by hand:

    npm ci --prefix clients/js && python -m pytest tests/clients

No __init__.py in this directory: a package tests.clients would shadow tests/clients.py, the
socket clients every other test imports.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.servers import ROOT, ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e

CLIENT = ROOT / "clients" / "js"
NODE = shutil.which("node")
NPM = shutil.which("npm")
NODE_TIMEOUT = 120  # seconds for the whole node run; it takes a few


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    env = server_env(MONGODB_DB_NAME=unique_db())
    migrate(env)
    process = ServerProcess(env).start()
    try:
        yield process
    finally:
        process.stop()


def _node_major() -> int:
    assert NODE is not None
    version = subprocess.run(
        [NODE, "--version"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return int(version.strip().lstrip("v").split(".")[0])


@pytest.fixture
def installed() -> None:
    # `make test` installs them; without them this is a failure, not a skip.
    assert NODE is not None and NPM is not None, "node/npm not found: the JS client needs Node 20+"
    assert _node_major() >= 20, "the JS client needs Node 20+"
    assert (CLIENT / "node_modules" / "ws").is_dir(), (
        "clients/js/node_modules is missing: run `make test`, or `npm ci --prefix clients/js`"
    )


@pytest.mark.timeout(NODE_TIMEOUT + 60)
def test_the_js_client_passes_its_unit_and_integration_tests(
    installed: None, server: ServerProcess
) -> None:
    assert NPM is not None
    run = subprocess.run(
        [NPM, "test", "--silent"],
        cwd=CLIENT,
        env={**os.environ, "SIGNIGHT_WS_URL": server.ws_url},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    output = f"{run.stdout}\n{run.stderr}"

    assert run.returncode == 0, f"node --test exited with {run.returncode}:\n{output[-30000:]}"
    passed = re.search(r"^# pass (\d+)$", run.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) > 0, f"no test ran:\n{output[-30000:]}"
    assert re.search(r"^# fail 0$", run.stdout, re.MULTILINE), output[-30000:]
